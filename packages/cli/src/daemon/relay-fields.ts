import http2 from 'node:http2';
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { DetourError } from '@detour/core';

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
