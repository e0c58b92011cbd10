// Inside an I/O callback the immediate always runs first: the check phase
// comes right after poll, the timers only on the next turn.
const fs = require('fs');
const log = (s) => console.log(s);
fs.readFile(__filename, () => {
  log('read');
  setTimeout(() => log('timeout'), 0);
  setImmediate(() => log('immediate'));
});
