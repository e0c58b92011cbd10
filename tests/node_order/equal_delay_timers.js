// Equal delays run in the order set; a shorter delay set later runs first.
// (Node reads the clock afresh for each setTimeout: the gap between the
// delays is wide so that a slow start cannot turn the order round.)
const log = (s) => console.log(s);
setTimeout(() => log('A 40'), 40);
setTimeout(() => log('B 40'), 40);
setTimeout(() => log('C 40'), 40);
setTimeout(() => log('D 1'), 1);
