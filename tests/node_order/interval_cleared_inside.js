// An interval that clears itself on its third run; a timeout it sets then
// still runs, the interval never again.
const log = (s) => console.log(s);
let n = 0;
const id = setInterval(() => {
  n += 1;
  log(`interval ${n}`);
  if (n === 3) {
    clearInterval(id);
    setTimeout(() => log('after'), 5);
  }
}, 1);
