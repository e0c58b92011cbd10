// Ticks, then microtasks, after the main module; immediates in the check
// phase.
const log = (s) => console.log(s);
setImmediate(() => log('immediate'));
queueMicrotask(() => log('microtask'));
process.nextTick(() => log('tick'));
log('main');
