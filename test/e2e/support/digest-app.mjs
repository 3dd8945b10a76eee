// An HTTP app for the fall-through tests, run as its own process. Every answer is
// JSON {app, method, path, bytes, sha256, fallthrough}: the request body's size and
// digest, and the `detour-fallthrough` field it arrived with (null when none).
// With --only PREFIX it implements only paths under PREFIX (a partial local
// service) and answers every other path 404, after reading the body.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { name: { type: 'string' }, only: { type: 'string' } } });

const server = http.createServer((req, res) => {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    const path = new URL(req.url, 'http://app').pathname;
    const mine = values.only === undefined || path.startsWith(values.only);
    const body = { app: values.name, method: req.method, path, bytes, sha256: hash.digest('hex'), fallthrough: req.headers['detour-fallthrough'] ?? null };
    res.writeHead(mine ? 200 : 404, { 'content-type': 'application/json', 'x-app': values.name });
    res.end(JSON.stringify(body));
  });
});
server.listen(0, '127.0.0.1', () => console.log(`${values.name} listening on http://127.0.0.1:${server.address().port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
