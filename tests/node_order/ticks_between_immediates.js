// Ticks and microtasks queued by an immediate run before the next immediate.
const log = (s) => console.log(s);
setImmediate(() => {
  log('immediate 1');
  queueMicrotask(() => log('microtask from 1'));
  process.nextTick(() => log('tick from 1'));
});
setImmediate(() => log('immediate 2'));
