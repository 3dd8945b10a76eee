import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { RELAY_OWNED_HEADERS } from '@detour/protocol';
import type { Http2SessionPool } from './session-pool.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2); `te` may only say `trailers`. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'host']);

const NOTHING: ReadonlySet<string> = new Set();

/**
 * The string-keyed fields of a received HEADERS frame that may be sent on
 * another HTTP/2 stream (node adds symbol keys that must not be forwarded),
 * without the names in `drop`.
 */
export function forwardableHeaders(headers: IncomingHttpHeaders, drop: ReadonlySet<string> = NOTHING): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || CONNECTION_SPECIFIC.has(name) || drop.has(name)) continue;
    if (name === 'te' && String(value).toLowerCase() !== 'trailers') continue;
    out[name] = value;
  }
  return out;
}

/**
 * Resets a stream with `code`. node's close() first ends the writable side,
 * and a stream opened with `waitForTrailers` would then send (empty) trailers
 * and END_STREAM ahead of the RST_STREAM, turning a reset into a clean end:
 * the trailer hook is removed first so that only the reset goes out.
 */
export function resetStream(stream: ServerHttp2Stream | ClientHttp2Stream, code: number): void {
  if (stream.closed) return;
  stream.removeAllListeners('wantTrailers');
  stream.close(code);
}

export interface Http2BridgeOptions {
  /** Fields of responses and trailers not to pass back. */
  dropResponse?: ReadonlySet<string>;
  /** Whether a response head is a refusal by the next hop, to be handled like no response at all; `ended`: it is trailers-only. */
  refused?(headers: IncomingHttpHeaders, ended: boolean): boolean;
  /**
   * The upstream stream closed (or refused) before any response head. The bridge
   * is detached by then; the caller answers the still-open downstream stream.
   */
  onNoResponse(rstCode: number | undefined): void;
}

/**
 * Joins a received stream (`down`) to one opened towards the next hop (`up`,
 * opened with `waitForTrailers` unless the request had ended): request body,
 * response and trailers are piped with HTTP/2 flow control as backpressure, and
 * a reset (RST_STREAM) of either side resets the other with the same code, so
 * cancellation and deadlines (gRPC) cross every hop. Nothing else on either
 * session is touched: one failing stream never disturbs its neighbours.
 */
export class Http2StreamBridge {
  readonly #down: ServerHttp2Stream;
  readonly #up: ClientHttp2Stream;
  readonly #options: Http2BridgeOptions;
  #requestTrailers: IncomingHttpHeaders | undefined;
  #responseTrailers: IncomingHttpHeaders | undefined;
  #responded = false;
  #responseEnded = false;
  #detached = false;

  constructor(down: ServerHttp2Stream, up: ClientHttp2Stream, requestEnded: boolean, options: Http2BridgeOptions) {
    this.#down = down;
    this.#up = up;
    this.#options = options;
    down.on('trailers', this.#onRequestTrailers);
    down.on('wantTrailers', this.#onWantResponseTrailers);
    down.on('close', this.#onDownClose);
    up.on('wantTrailers', () => up.sendTrailers(forwardableHeaders(this.#requestTrailers ?? {})));
    up.on('headers', (headers) => {
      // Interim responses (103 Early Hints); 100 Continue concerns only the hop that asked.
      const status = Number(headers[':status']);
      if (!this.#detached && status > 100 && status < 200 && !down.headersSent && !down.destroyed) down.additionalHeaders(forwardableHeaders(headers));
    });
    up.on('response', (headers, flags) => this.#response(headers, (flags & NGHTTP2_FLAG_END_STREAM) !== 0));
    up.on('trailers', (trailers) => {
      this.#responseTrailers = trailers;
    });
    up.on('close', () => this.#upClose());
    up.on('error', () => undefined);
    if (requestEnded) return;
    if (down.readableEnded) {
      up.end();
      return;
    }
    down.on('end', this.#onRequestEnd);
    // Not pipe's own end: node ends a stream's readable side on RST_STREAM too, and a reset must stay a reset.
    down.pipe(up, { end: false });
  }

  /** Stops forwarding and releases the upstream stream; the downstream one stays open for someone else. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#down.unpipe(this.#up);
    this.#down.off('trailers', this.#onRequestTrailers);
    this.#down.off('wantTrailers', this.#onWantResponseTrailers);
    this.#down.off('close', this.#onDownClose);
    this.#down.off('end', this.#onRequestEnd);
    resetStream(this.#up, NGHTTP2_CANCEL);
  }

  readonly #onRequestEnd = (): void => {
    const code = this.#down.rstCode;
    if (code !== undefined && code !== NGHTTP2_NO_ERROR) resetStream(this.#up, code);
    else {
      this.#up.end();
    }
  };

  readonly #onRequestTrailers = (trailers: IncomingHttpHeaders): void => {
    this.#requestTrailers = trailers;
  };

  readonly #onWantResponseTrailers = (): void => {
    this.#down.sendTrailers(forwardableHeaders(this.#responseTrailers ?? {}, this.#options.dropResponse));
  };

  readonly #onDownClose = (): void => {
    const code = this.#down.rstCode;
    // The caller cancelled (or its deadline passed): tell the next hop with the same code.
    resetStream(this.#up, code === undefined || code === NGHTTP2_NO_ERROR ? NGHTTP2_CANCEL : code);
  };

  #response(headers: IncomingHttpHeaders, ended: boolean): void {
    if (this.#detached || this.#down.destroyed) return;
    if (this.#options.refused?.(headers, ended) === true) {
      this.detach();
      this.#options.onNoResponse(undefined);
      return;
    }
    this.#responded = true;
    this.#responseEnded = ended;
    // A trailers-only response (gRPC errors) is one HEADERS frame with END_STREAM and stays one.
    this.#down.respond(forwardableHeaders(headers, this.#options.dropResponse), { endStream: ended, waitForTrailers: !ended });
    if (ended) return;
    this.#up.on('end', () => {
      const code = this.#up.rstCode;
      if (code !== undefined && code !== NGHTTP2_NO_ERROR) resetStream(this.#down, code);
      else {
        this.#down.end();
      }
    });
    this.#up.pipe(this.#down, { end: false });
  }

  #upClose(): void {
    const down = this.#down;
    if (this.#detached || down.closed || down.destroyed) return;
    const code = this.#up.rstCode;
    if (!this.#responded) {
      this.detach();
      if (!down.headersSent) this.#options.onNoResponse(code);
      return;
    }
    if (code !== undefined && code !== NGHTTP2_NO_ERROR) resetStream(down, code);
    // Closed without finishing the body (its session died): the caller must not take a cut body as whole.
    else if (!this.#responseEnded && !this.#up.readableEnded) resetStream(down, NGHTTP2_INTERNAL_ERROR);
  }
}

/** Relay-owned fields (`detour-*` that only detour sets): never forwarded from a caller, never taken from an app. */
const RELAY_OWNED: ReadonlySet<string> = new Set(RELAY_OWNED_HEADERS);

/**
 * Forwards one received stream to a new stream from `pool` (an app the agent
 * fronts, or a developer's local app behind the daemon) and bridges the two;
 * relay-owned fields are dropped both ways, so an app's own `detour-offline`
 * cannot read as a relay's refusal. `unreachable(reason)` answers the stream
 * when the pool cannot take it or the upstream never answers. Returns the
 * upstream stream, already bridged (for an observer: the daemon's inspector),
 * or undefined when the pool could not open one. `replayBody`: the request
 * was read already (its body kept for a replay); it is sent instead of `stream`'s.
 */
export function forwardToPool(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  requestEnded: boolean,
  pool: Http2SessionPool,
  scheme: string,
  unreachable: (reason: string) => void,
  replayBody?: Buffer,
): ClientHttp2Stream | undefined {
  const out = forwardableHeaders(headers, RELAY_OWNED);
  out[':scheme'] = scheme;
  const ended = requestEnded || replayBody !== undefined;
  const endStream = replayBody === undefined ? requestEnded : replayBody.length === 0;
  let up: ClientHttp2Stream;
  try {
    up = pool.request(out, { endStream, waitForTrailers: !ended });
  } catch (err) {
    unreachable((err as Error).message);
    return undefined;
  }
  if (replayBody !== undefined && replayBody.length > 0) up.end(replayBody);
  new Http2StreamBridge(stream, up, ended, {
    dropResponse: RELAY_OWNED,
    onNoResponse: (code) => unreachable(code === undefined ? 'stream closed' : `HTTP/2 code ${code}`),
  });
  return up;
}
