import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { ErrorCode } from '@detour/protocol';

/** gRPC status codes used by detour's own answers (grpc `doc/statuscodes.md`). */
export const GRPC_STATUS = { UNAVAILABLE: 14 } as const;

/** A gRPC request: `content-type` `application/grpc` or `application/grpc+<codec>` (gRPC over HTTP/2 spec). */
export function isGrpcRequest(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && /^application\/grpc($|[+;])/i.test(type);
}

/** `grpc-message` is percent-encoded UTF-8: bytes outside printable ASCII, and `%`, become `%XX`. */
export function percentEncodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export interface LocalError {
  /** HTTP status and detour code for non-gRPC callers (JSON body like every detour error). */
  status: number;
  code: ErrorCode;
  /** gRPC status for gRPC callers. */
  grpcStatus: number;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * Answers a stream with an error of detour's own: a gRPC caller gets a
 * trailers-only response (`:status 200`, `grpc-status`, `grpc-message`) it can
 * map to a status code; anyone else the JSON error body. Only before any
 * response head was sent.
 */
export function respondLocalError(stream: ServerHttp2Stream, requestHeaders: IncomingHttpHeaders, error: LocalError): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  if (isGrpcRequest(requestHeaders)) {
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(error.grpcStatus), 'grpc-message': percentEncodeGrpcMessage(error.message) },
      { endStream: true },
    );
  } else {
    const body = JSON.stringify({ error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) } });
    stream.respond({ ':status': error.status, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    stream.end(body);
  }
  // The caller may still be sending a body nobody will read.
  stream.resume();
}
