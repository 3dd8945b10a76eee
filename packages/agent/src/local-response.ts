import { STATUS_CODES } from 'node:http';
import { errorBody } from '@detour/core';
import type { ErrorCode } from '@detour/protocol';

/**
 * A complete response the agent answers itself, with the JSON error body every
 * detour component uses. `close` adds `Connection: close` (RFC 9112 §9.6).
 */
export function errorResponse(status: number, code: ErrorCode, message: string, close: boolean, details?: Record<string, unknown>): Buffer {
  const body = JSON.stringify(errorBody(code, message, details));
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
    (close ? 'connection: close\r\n' : '') +
    '\r\n';
  return Buffer.from(head + body, 'utf8');
}

/** The one wording of a `431` (DETOUR_ERR_AGENT_HEAD_TOO_LARGE), HTTP/1.1 and HTTP/2 alike. */
export function headTooLargeMessage(maxHeaderBytes: number): string {
  return `request head exceeds ${maxHeaderBytes} bytes`;
}
