// A gRPC app for the end-to-end tests, run as its own process (see echo.proto).
// --tls-cert/--tls-key make it serve TLS (for `detour agent --app https://…`).
// --methods Chat,Hold implements only those methods: the others answer UNIMPLEMENTED.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const { values } = parseArgs({
  options: { name: { type: 'string' }, port: { type: 'string', default: '0' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, methods: { type: 'string' } },
});
const definition = protoLoader.loadSync(new URL('./echo.proto', import.meta.url).pathname, { longs: Number, defaults: true });
const { Echo } = grpc.loadPackageDefinition(definition).detour.test;
const name = values.name;
const idOf = (call) => String(call.metadata.get('x-telepresence-id')[0] ?? '');
let cancelled = 0;

const server = new grpc.Server();
const implementation = {
  Unary(call, callback) {
    if (call.request.text === 'fail') {
      const metadata = new grpc.Metadata();
      metadata.set('x-detail', `from ${name}`);
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `refused by ${name}: 100% invalid`, metadata });
      return;
    }
    callback(null, { text: call.request.text, servedBy: name, id: idOf(call) });
  },
  Chat(call) {
    call.on('data', (msg) => call.write({ text: msg.text, servedBy: name, id: idOf(call) }));
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  },
  Hold(call) {
    call.write({ text: 'holding', servedBy: name, id: idOf(call) });
    call.on('cancelled', () => cancelled++);
  },
  Stats(_call, callback) {
    callback(null, { cancelled });
  },
  Download(call) {
    let left = Number(call.request.bytes);
    const chunk = Buffer.alloc(call.request.chunkBytes || 64 * 1024, 0x61);
    const pump = () => {
      while (left > 0 && !call.cancelled) {
        const data = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= data.length;
        if (!call.write({ data })) return void call.once('drain', pump);
      }
      call.end();
    };
    pump();
  },
  Upload(call, callback) {
    let bytes = 0;
    call.on('data', (c) => (bytes += c.data.length));
    call.on('end', () => callback(null, { bytes, chunkBytes: 0 }));
  },
};
const only = values.methods?.split(',');
server.addService(Echo.service, only === undefined ? implementation : Object.fromEntries(Object.entries(implementation).filter(([method]) => only.includes(method))));
const credentials = values['tls-cert']
  ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(values['tls-cert']), private_key: readFileSync(values['tls-key']) }])
  : grpc.ServerCredentials.createInsecure();
server.bindAsync(`127.0.0.1:${values.port}`, credentials, (err, port) => {
  if (err) throw err;
  console.log(`${name} listening on ${values['tls-cert'] ? 'https' : 'http'}://127.0.0.1:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.forceShutdown() || process.exit(0));
