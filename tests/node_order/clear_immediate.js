// clearImmediate before the loop and from an earlier immediate of the same
// check phase.
const log = (s) => console.log(s);
const a = setImmediate(() => log('a (never)'));
clearImmediate(a);
let c = null;
setImmediate(() => {
  log('b');
  clearImmediate(c);
});
c = setImmediate(() => log('c (never)'));
setImmediate(() => log('d'));
