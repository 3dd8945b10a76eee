import { fieldValue } from './body.js';
import type { CapturedExchange } from './model.js';

/** gRPC status names (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
const GRPC_CODES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

export interface GrpcCall {
  service: string;
  method: string;
  /** From the trailers, or the head of a trailers-only answer. */
  status?: { code: number; name: string; message?: string };
}

/** A gRPC exchange's call: `/pkg.Service/Method`, and the status its trailers carry. */
export function grpcCall(exchange: CapturedExchange): GrpcCall {
  const [, service = '', method = ''] = /^\/([^/]+)\/([^/?]+)/.exec(exchange.path) ?? [];
  const raw = fieldValue(exchange.responseTrailers, 'grpc-status') ?? fieldValue(exchange.responseHeaders, 'grpc-status');
  if (raw === undefined) return { service, method };
  const code = Number(raw);
  const message = fieldValue(exchange.responseTrailers, 'grpc-message') ?? fieldValue(exchange.responseHeaders, 'grpc-message');
  return { service, method, status: { code, name: GRPC_CODES[code] ?? `code ${code}`, ...(message === undefined ? {} : { message: decodeURIComponent(message) }) } };
}
