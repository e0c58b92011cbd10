// Every tick (those queued by ticks included) runs before any microtask;
// a tick queued by a microtask waits for the microtask queue to empty.
const log = (s) => console.log(s);
process.nextTick(() => {
  log('tick a');
  process.nextTick(() => log('tick a2'));
});
queueMicrotask(() => {
  log('micro m');
  process.nextTick(() => log('tick from m'));
  queueMicrotask(() => log('micro m2'));
});
process.nextTick(() => log('tick b'));
