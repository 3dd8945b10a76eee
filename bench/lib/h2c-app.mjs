// A minimal HTTP/2 cleartext app for the h2c phase: every stream gets a small
// body and an `x-served-by` header naming this instance (app or laptop), so
// the bench can check which side served a request before timing it.
// POSTs with `content-type: application/grpc` are answered as a unary gRPC
// call: one length-prefixed message, then trailers with grpc-status 0.
import http2 from 'node:http2';
import { grpcFrame } from './h2.mjs';
import { H2C_BODY } from './configs.mjs';

const name = process.argv[2] ?? 'app';
const body = Buffer.from(H2C_BODY);
// A protobuf message with one string field (field 1, wire type 2): what a tiny echo reply looks like.
const grpcReply = grpcFrame(Buffer.concat([Buffer.from([0x0a, body.length]), body]));
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  if (headers['content-type']?.startsWith('application/grpc')) {
    // A unary call answers after the whole request message arrived, as a gRPC server does.
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-served-by': name }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(grpcReply);
    });
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-served-by': name });
  stream.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(`h2c ${name} listening on http://127.0.0.1:${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
