// The showdown's HTTP service in Node (the http module): the same routes as
// weft-http (examples/http/server.h). /heavy computes without yielding, so
// the event loop serves nothing else meanwhile.
//
//   node perf/peers/node/http.js --port 0
//
// Prints `listening on 127.0.0.1:<port> (node <version>)` once it accepts.
'use strict';
const http = require('http');

const usage = 'usage: node http.js [--port P]\n' +
  '  --port   TCP port on 127.0.0.1, 0 for any free one (8080)\n' +
  'the showdown\'s HTTP service in Node: GET /ping, GET /heavy?ms=N, POST /echo\n';
const port = require('./port.js')('http.js', usage, 8080);

function reply(res, status, body, extra) {
  res.writeHead(status, Object.assign({ 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) }, extra || {}));
  res.end(body);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (url.pathname === '/ping') {
    if (!get) return reply(res, 405, 'use GET\n', { Allow: 'GET, HEAD' });
    return reply(res, 200, 'pong\n');
  }
  if (url.pathname === '/heavy') {
    const text = url.searchParams.get('ms') || '';
    const ms = Number(text);
    if (!get) return reply(res, 405, 'use GET\n', { Allow: 'GET, HEAD' });
    if (!/^[0-9]+$/.test(text) || ms > 60000) return reply(res, 400, 'ms must be a whole number from 0 to 60000\n');
    const end = Date.now() + ms;
    let work = 0;
    while (Date.now() < end) work++;
    return reply(res, 200, `computed ${ms} ms\n`);
  }
  if (url.pathname === '/echo') {
    if (req.method !== 'POST') return reply(res, 405, 'use POST\n', { Allow: 'POST' });
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    });
    return undefined;
  }
  return reply(res, 404, 'not found\n');
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on 127.0.0.1:${server.address().port} (node ${process.version})`);
});
