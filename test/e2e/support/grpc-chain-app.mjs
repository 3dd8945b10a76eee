// A hop of a mixed HTTP/1.1 → gRPC chain for the `detour trace` end-to-end tests,
// run as its own process. With --front http it answers plain HTTP/1.1 GETs;
// otherwise it serves the Echo service of echo.proto (Unary only). Either way,
// with --next HOST:PORT it first calls Unary on the next hop over h2c.
//
// Like demo/sample-service.mjs it never forwards x-telepresence-id by hand: run
// it with --import @detour/propagation/register.mjs and the library carries it.
import http from 'node:http';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const { values } = parseArgs({ options: { name: { type: 'string' }, front: { type: 'string', default: 'grpc' }, next: { type: 'string' } } });
const definition = protoLoader.loadSync(new URL('./echo.proto', import.meta.url).pathname, { longs: Number, defaults: true });
const { Echo } = grpc.loadPackageDefinition(definition).detour.test;
const name = values.name;
const next = values.next === undefined ? undefined : new Echo(values.next, grpc.credentials.createInsecure());

/** The chain below this hop, as `a>b>c`; this hop alone when it is the last. */
function callNext(text) {
  if (next === undefined) return Promise.resolve(name);
  return new Promise((resolve, reject) => next.Unary({ text }, (err, reply) => (err ? reject(err) : resolve(`${name}>${reply.text}`))));
}

if (values.front === 'http') {
  const server = http.createServer((req, res) => {
    callNext('probe').then(
      (chain) => res.writeHead(200, { 'content-type': 'text/plain' }).end(chain),
      (err) => res.writeHead(502, { 'content-type': 'text/plain' }).end(String(err)),
    );
  });
  server.listen(0, '127.0.0.1', () => console.log(`${name} listening on http://127.0.0.1:${server.address().port}`));
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
} else {
  const server = new grpc.Server();
  server.addService(Echo.service, {
    Unary(call, callback) {
      callNext(call.request.text).then(
        (text) => callback(null, { text, servedBy: name, id: '' }),
        (err) => callback({ code: grpc.status.UNAVAILABLE, details: String(err.details ?? err) }),
      );
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    console.log(`${name} listening on http://127.0.0.1:${port}`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.forceShutdown() || process.exit(0));
}
