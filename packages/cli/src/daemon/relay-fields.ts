import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { RELAY_HEADER_INTERCEPT_ID } from '@detour/protocol';
import type { DetourError } from '@detour/core';

/** Connection-specific fields that HTTP/2 forbids (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te']);

/** The HTTP/1.1 request fields for the local app: the relay stream's end-to-end fields plus Host from `:authority`. */
export function localRequestFields(headers: IncomingHttpHeaders, port: number): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    if (name.startsWith(':') || name === RELAY_HEADER_INTERCEPT_ID || CONNECTION_SPECIFIC.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) fields[name] = value;
  }
  fields.host = String(headers[':authority'] ?? `127.0.0.1:${port}`);
  return fields;
}

/** The HTTP/2 response head for a local app's answer: its status and fields, minus the connection-specific ones. */
export function relayResponseFields(status: number, fields: Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': status };
  for (const [name, value] of Object.entries(fields)) {
    if (!CONNECTION_SPECIFIC.has(name) && value !== undefined) out[name] = value;
  }
  return out;
}

/** Answers a relay stream with a detour error (JSON), or resets it when a response has already begun. */
export function respondError(stream: ServerHttp2Stream, error: DetourError, extra: OutgoingHttpHeaders = {}): void {
  if (stream.destroyed) return;
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond({ ':status': error.status, 'content-type': 'application/json', ...extra });
  stream.end(JSON.stringify(error.toBody()));
  stream.resume();
}
