// 'listening' comes as a tick after listen(); closing a server with no
// connections emits 'close' as a tick too, before the check phase.
const net = require('net');
const log = (s) => console.log(s);
const server = net.createServer(() => {});
server.listen(0, '127.0.0.1', () => {
  log('listening');
  setImmediate(() => log('immediate'));
  server.close(() => log('server closed'));
  process.nextTick(() => log('tick after close'));
});
log('main done');
