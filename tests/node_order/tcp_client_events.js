// A client's events in order: connect, the echo of what it wrote, the
// server's end, then close (in the close phase, after an immediate set at
// 'end').
const net = require('net');
const log = (s) => console.log(s);
const server = net.createServer((sock) => {
  sock.on('data', (d) => {
    log(`server: data ${d}`);
    sock.end(`echo ${d}`);
  });
});
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1', () => {
    log('client: connected');
    client.write('hi');
  });
  client.on('data', (d) => log(`client: data ${d}`));
  client.on('end', () => {
    log('client: end');
    setImmediate(() => log('immediate set at end'));
  });
  client.on('close', () => {
    log('client: close');
    server.close(() => log('server closed'));
  });
});
