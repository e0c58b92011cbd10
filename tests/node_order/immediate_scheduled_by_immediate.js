// An immediate set during the check phase runs in the next one, after the
// immediates already queued.
const log = (s) => console.log(s);
setImmediate(() => {
  log('immediate 1');
  setImmediate(() => log('immediate 3 (set by 1)'));
});
setImmediate(() => log('immediate 2'));
