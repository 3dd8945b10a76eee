// Run as a child process by servers.mjs: an HTTP server that reads a request
// body to the end, discarding it, and answers with the byte count. nginx cannot
// be that sink itself: its `return` answers early and closes the connection
// with most of a large body unread.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  let bytes = 0;
  req.on('data', (chunk) => { bytes += chunk.length; });
  req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain', 'x-received-bytes': String(bytes) }).end('ok\n'));
});
server.listen(0, '127.0.0.1', () => console.log(`sink listening on ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
