// One loopback connection ended by the client: end() sends the FIN at once
// (shutdown(2) in the same phase), the server sees 'end', ends its side and
// closes; then the client sees 'end' and closes in that iteration's close
// phase. Immediates set at each event pin the iteration each one is in.
const net = require('net');
const log = (s) => console.log(s);
const server = net.createServer((sock) => {
  sock.on('end', () => {
    log('server: end');
    setImmediate(() => log('immediate set at server end'));
  });
  sock.on('close', () => log('server: close'));
});
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1', () => {
    log('client: connected');
    client.end();
    setImmediate(() => log('immediate set at client end()'));
  });
  client.on('end', () => {
    log('client: end');
    setImmediate(() => {
      log('immediate 1 set at client end');
      setImmediate(() => log('immediate 2 set by immediate 1'));
    });
  });
  client.on('close', () => {
    log('client: close');
    server.close(() => log('server closed'));
  });
});
