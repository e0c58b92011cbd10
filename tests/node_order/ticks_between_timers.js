// Ticks and microtasks queued by a timer run before the next timer, even
// one due in the same phase.
const log = (s) => console.log(s);
setTimeout(() => {
  log('timeout 1');
  queueMicrotask(() => log('microtask from 1'));
  process.nextTick(() => log('tick from 1'));
}, 2);
setTimeout(() => log('timeout 2'), 2);
