import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { RELAY_OWNED_HEADERS } from '@detour/protocol';
import type { Fields } from '@detour/dashboard-ui/model';
import type { ExchangeContext } from './http1-observer.js';
import { ExchangeRecorder } from './exchange-recorder.js';
import type { ExchangeRing } from './exchange-ring.js';

const RELAY_OWNED: ReadonlySet<string> = new Set(RELAY_OWNED_HEADERS);
const { NGHTTP2_NO_ERROR } = http2.constants;

/** The regular fields of an HTTP/2 head (no pseudo-fields, no relay-owned ones), in the order node gives them. */
export function h2Fields(headers: IncomingHttpHeaders): Fields {
  const fields: Fields = [];
  for (const name of Object.keys(headers)) {
    if (name.startsWith(':') || RELAY_OWNED.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) fields.push([name, String(one)]);
  }
  return fields;
}

/**
 * Watches one HTTP/2 request relayed to the local app: `down` from the tunnel,
 * `up` towards the app, already joined by the stream bridge. Listeners are
 * added only after the bridge's pipes, so each chunk still goes where it went
 * and flow control is untouched; the observer only copies and counts.
 */
export class H2Observer {
  readonly #recorder: ExchangeRecorder;

  constructor(ring: ExchangeRing, context: ExchangeContext, headers: IncomingHttpHeaders) {
    const contentType = String(headers['content-type'] ?? '');
    this.#recorder = new ExchangeRecorder(ring, {
      ...context,
      protocol: contentType.startsWith('application/grpc') ? 'grpc' : 'h2',
      method: String(headers[':method']),
      path: String(headers[':path'] ?? ''),
      ...(headers[':authority'] === undefined ? {} : { authority: String(headers[':authority']) }),
      requestHeaders: h2Fields(headers),
    });
  }

  /** The stream to the app was opened: follow both directions. */
  follow(down: ServerHttp2Stream, up: ClientHttp2Stream): void {
    const recorder = this.#recorder;
    down.on('data', (chunk: Buffer) => recorder.requestData(chunk));
    down.on('trailers', (trailers: IncomingHttpHeaders) => recorder.requestTrailers(h2Fields(trailers)));
    let trailers: Fields | undefined;
    up.once('response', (headers: IncomingHttpHeaders) => {
      recorder.response(Number(headers[':status']), h2Fields(headers));
      // Added after the bridge's own 'response' listener, which pipes: no chunk is taken from the app's stream early.
      up.on('data', (chunk: Buffer) => recorder.responseData(chunk));
    });
    up.on('trailers', (fields: IncomingHttpHeaders) => (trailers = h2Fields(fields)));
    up.once('close', () => {
      const code = up.rstCode;
      if (code !== undefined && code !== NGHTTP2_NO_ERROR) recorder.fail(`stream reset (HTTP/2 code ${code})`);
      else if (up.readableEnded) recorder.complete(trailers);
      else recorder.fail('the stream closed before the answer was complete');
    });
    down.once('close', () => {
      const code = down.rstCode;
      if (code !== undefined && code !== NGHTTP2_NO_ERROR) recorder.fail(`the caller reset the stream (HTTP/2 code ${code})`);
    });
  }

  /** The app could not be reached; the daemon answered with an error itself. */
  unreachable(reason: string): void {
    this.#recorder.fail(`local app unreachable: ${reason}`);
  }
}
