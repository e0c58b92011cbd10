// A server closed inside a client's 'close' callback while its own side of
// the connection is still open: the server's 'close' comes as a tick once
// that socket is destroyed (Node drops the count in _destroy), so before
// the immediate set with it and before the socket's own 'close'.
const net = require('net');
const log = (s) => console.log(s);
const server = net.createServer((sock) => {
  sock.on('data', (d) => {
    log(`server: data ${d}`);
    sock.end(`echo ${d}`);
  });
  sock.on('end', () => log('server: end'));
  sock.on('close', () => log('server: socket close'));
});
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1', () => {
    log('client: connected');
    client.write('hi');
  });
  client.on('data', (d) => log(`client: data ${d}`));
  client.on('end', () => log('client: end'));
  client.on('close', () => {
    log('client: close');
    server.close(() => log('server closed'));
    process.nextTick(() => log('tick after server.close'));
    setImmediate(() => log('immediate after server.close'));
  });
});
