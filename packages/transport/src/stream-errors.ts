import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { errorBody } from '@detour/core';
import type { DetourError } from '@detour/core';
import type { ErrorCode } from '@detour/protocol';

/** gRPC status codes used by detour's own answers (grpc `doc/statuscodes.md`). */
export const GRPC_STATUS = { RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14 } as const;

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
    const body = JSON.stringify(errorBody(error.code, error.message, error.details));
    stream.respond({ ':status': error.status, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    stream.end(body);
  }
  // The caller may still be sending a body nobody will read.
  stream.resume();
}

/**
 * Answers a relay stream (manager, daemon) with a detour error as JSON, `extra`
 * fields included (e.g. `detour-offline`), or resets it when a response has
 * already begun: a half-sent answer must not look complete.
 */
export function respondStreamError(stream: ServerHttp2Stream, error: DetourError, extra: OutgoingHttpHeaders = {}): void {
  if (stream.destroyed) return;
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond({ ':status': error.status, 'content-type': 'application/json', ...extra });
  stream.end(JSON.stringify(error.toBody()));
  // The caller may still be sending a body nobody will read.
  stream.resume();
}
