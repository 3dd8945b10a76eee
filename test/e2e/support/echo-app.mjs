// A small upstream app for the end-to-end tests, run as its own process.
//   GET  /anything           → JSON {app, method, path, headers}
//   POST /upload             → JSON {app, bytes}: counts a streamed body without keeping it
//   GET  /download?bytes=N   → N bytes, streamed with backpressure
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string', default: '0' } } });
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://app');
  if (url.pathname === '/upload') {
    let bytes = 0;
    req.on('data', (chunk) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ app: values.name, bytes }));
    });
    return;
  }
  if (url.pathname === '/download') {
    let left = Number(url.searchParams.get('bytes') ?? '0');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
    const pump = () => {
      while (left > 0) {
        const piece = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
    return;
  }
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ app: values.name, method: req.method, path: req.url, headers: req.headers }));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  console.log(`${values.name} listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
