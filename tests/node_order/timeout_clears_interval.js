// A timeout due earlier clears an interval (and a later timeout) before
// they ever run; timers of equal delay run in the order they were set.
const log = (s) => console.log(s);
const interval = setInterval(() => log('interval (never)'), 20);
const later = setTimeout(() => log('later (never)'), 30);
setTimeout(() => {
  log('first');
  clearInterval(interval);
}, 5);
setTimeout(() => {
  log('second');
  clearTimeout(later);
}, 5);
