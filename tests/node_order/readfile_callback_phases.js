// From a file read's callback: ticks, then microtasks, then the immediate
// (check phase), then the timeout (next timers phase). A missing file's
// error comes to its callback first.
const fs = require('fs');
const log = (s) => console.log(s);
fs.readFile('/nonexistent/weft', (missing) => {
  log(`missing: ${missing.code}`);
  fs.readFile(__filename, (err, data) => {
    log(`read ${err ? 'failed' : 'ok'}: ${data.length > 0}`);
    setTimeout(() => log('timeout'), 0);
    setImmediate(() => log('immediate'));
    queueMicrotask(() => log('microtask'));
    process.nextTick(() => log('tick'));
  });
});
log('main done');
