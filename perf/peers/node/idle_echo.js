// The Node peer of weft-idle-echo (perf/idle/echo.cc), for perf/idle: the
// net module's echo, each connection's data written back as it comes.
//
//   node perf/peers/node/idle_echo.js --port 0
//
// Prints `listening on 127.0.0.1:<port> (node <version>)` on stderr; runs
// until killed.
'use strict';
const net = require('net');

const usage = 'usage: node idle_echo.js [--port P]\n' +
  '  --port   TCP port on 127.0.0.1, 0 for any free one (0)\n' +
  'an echo server for perf/idle (weft-idle)\n';
const port = require('./port.js')('idle_echo.js', usage, 0);

const server = net.createServer((socket) => {
  socket.on('data', (chunk) => socket.write(chunk));
  socket.on('error', () => socket.destroy());
});
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  console.error(`listening on 127.0.0.1:${server.address().port} (node ${process.version})`);
});
