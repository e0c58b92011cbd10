// Equal delays run in the order set; a shorter delay set later runs first.
const log = (s) => console.log(s);
setTimeout(() => log('A 10'), 10);
setTimeout(() => log('B 10'), 10);
setTimeout(() => log('C 10'), 10);
setTimeout(() => log('D 3'), 3);
