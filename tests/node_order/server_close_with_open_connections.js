// server.close() while two connections are open: no more are accepted, and
// its callback runs once the last one is destroyed, as a tick in the same
// phase (before that socket's own 'close', which waits for the close phase).
// Each client ends from a timer: its FIN leaves in the next pending phase.
const net = require('net');
const log = (s) => console.log(s);
let accepted = 0;
let a = null;
let b = null;
const endSoon = (name, sock) => setTimeout(() => {
  log(`${name}: end()`);
  sock.end();
}, 5);
const server = net.createServer((sock) => {
  const me = ++accepted;
  sock.on('end', () => log(`server ${me}: end`));
  sock.on('close', () => log(`server ${me}: close`));
  if (me === 2) {
    server.close(() => log('server closed'));
    log('server.close() with 2 open');
    endSoon('a', a);
  }
});
server.listen(0, '127.0.0.1', () => {
  a = net.connect(server.address().port, '127.0.0.1', () => {
    b = net.connect(server.address().port, '127.0.0.1');
    b.on('end', () => log('b: end'));
    b.on('close', () => log('b: close'));
  });
  a.on('end', () => log('a: end'));
  a.on('close', () => {
    log('a: close');
    endSoon('b', b);
  });
});
