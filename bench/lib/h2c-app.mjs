// A minimal HTTP/2 cleartext app for the h2c phase: every stream gets a small
// body and an `x-served-by` header naming this instance (app or laptop), so
// the bench can check which side served a request before timing it.
import http2 from 'node:http2';

const name = process.argv[2] ?? 'app';
const body = Buffer.from('hello from h2c\n');
const server = http2.createServer();
server.on('stream', (stream) => {
  stream.on('error', () => {});
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-served-by': name });
  stream.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(`h2c ${name} listening on http://127.0.0.1:${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
