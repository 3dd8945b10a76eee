// The standard gRPC interop server (grpc doc/interop-test-descriptions.md, "Server" section) for
// interop.test.ts, run as its own process: once as the in-cluster app, once as a developer's laptop app.
// Which of them answered is reported, so a test asserts it rather than assumes it: an interceptor
// (it sees every call, also those no handler of ours answers: an unimplemented method, a cancelled call)
// - prints one JSON line when a call starts and one when it ends, with the call's `x-interop-case`
//   metadata, its method and the status a handler answered (null: the call ended before any did).
//   grpc-js delivers a client's RST_STREAM to a handler as the end of its input, so a handler may still
//   answer a cancelled call (the answer is dropped): the status says what the server did, not what the
//   client saw;
// - stamps `x-served-by: <name>` on the trailing metadata of every status a handler sends.
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string', default: '0' } } });
const definition = protoLoader.loadSync(new URL('./interop.proto', import.meta.url).pathname, { defaults: true });
const { TestService } = grpc.loadPackageDefinition(definition).grpc.testing;
const name = values.name;

// "Echo Metadata": the initial key comes back in the initial metadata, the binary one in the trailers.
const ECHO_INITIAL = 'x-grpc-test-echo-initial';
const ECHO_TRAILING = 'x-grpc-test-echo-trailing-bin';

/** Sends the echoed initial metadata (if asked for) and returns the trailers the call ends with. */
function echoMetadata(call) {
  const [initial] = call.metadata.get(ECHO_INITIAL);
  if (initial !== undefined) {
    const metadata = new grpc.Metadata();
    metadata.set(ECHO_INITIAL, initial);
    call.sendMetadata(metadata);
  }
  const trailers = new grpc.Metadata();
  const [trailing] = call.metadata.get(ECHO_TRAILING);
  if (trailing !== undefined) trailers.set(ECHO_TRAILING, trailing);
  return trailers;
}

/** "Echo Status": the status a request asks the call to end with, or undefined. */
function echoStatus(request, trailers) {
  const status = request.responseStatus;
  return status === null ? undefined : { code: status.code, details: status.message, metadata: trailers };
}

const payload = (size) => ({ type: 'COMPRESSABLE', body: Buffer.alloc(size) });

/** See the header comment. */
function observe(methodDescriptor, call) {
  const method = methodDescriptor.path.slice(methodDescriptor.path.lastIndexOf('/') + 1);
  let interopCase = '';
  let ended = false;
  const record = (event, status) => console.log(JSON.stringify({ event, case: interopCase, method, status }));
  const end = (status) => {
    if (ended) return;
    ended = true;
    record('end', status);
  };
  return new grpc.ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, nextMetadata) {
          interopCase = String(metadata.get('x-interop-case')[0] ?? '');
          record('start', null);
          nextMetadata(metadata);
        },
        // Also called after a status was sent; `end` keeps the first outcome.
        onCancel: () => end(null),
      });
    },
    sendStatus(status, nextStatus) {
      const metadata = status.metadata?.clone() ?? new grpc.Metadata();
      metadata.set('x-served-by', name);
      end(status.code);
      nextStatus({ ...status, metadata });
    },
  });
}

const server = new grpc.Server({ interceptors: [observe] });
// HalfDuplexCall and UnimplementedCall are left out: grpc-js answers them UNIMPLEMENTED.
server.addService(TestService.service, {
  EmptyCall(call, callback) {
    callback(null, {}, echoMetadata(call));
  },
  UnaryCall(call, callback) {
    const trailers = echoMetadata(call);
    const status = echoStatus(call.request, trailers);
    if (status !== undefined) return void callback(status);
    callback(null, { payload: payload(call.request.responseSize) }, trailers);
  },
  StreamingOutputCall(call) {
    const trailers = echoMetadata(call);
    for (const { size } of call.request.responseParameters) call.write({ payload: payload(size) });
    call.end(trailers);
  },
  StreamingInputCall(call, callback) {
    const trailers = echoMetadata(call);
    let aggregatedPayloadSize = 0;
    call.on('data', (request) => (aggregatedPayloadSize += request.payload?.body.length ?? 0));
    call.on('end', () => callback(null, { aggregatedPayloadSize }, trailers));
  },
  FullDuplexCall(call) {
    const trailers = echoMetadata(call);
    let ended = false;
    call.on('data', (request) => {
      if (ended) return;
      const status = echoStatus(request, trailers);
      if (status !== undefined) {
        // Once it has ended the call with a status, the server processes no further messages.
        ended = true;
        call.emit('error', status);
        return;
      }
      for (const { size } of request.responseParameters) call.write({ payload: payload(size) });
    });
    call.on('end', () => ended || call.end(trailers));
  },
});
server.bindAsync(`127.0.0.1:${values.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(`${name} listening on http://127.0.0.1:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.forceShutdown() || process.exit(0));
