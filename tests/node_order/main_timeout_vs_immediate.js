// From the main module, a 0 ms timeout and an immediate: which runs first
// depends on whether 1 ms has passed when the loop starts. Here the main
// module computes for 5 ms, so the timeout is due and runs first.
const log = (s) => console.log(s);
setTimeout(() => log('timeout'), 0);
setImmediate(() => log('immediate'));
const end = Date.now() + 5;
while (Date.now() < end) {}
log('main done');
