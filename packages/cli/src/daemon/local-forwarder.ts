import http2 from 'node:http2';
import { PassThrough } from 'node:stream';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { LocalHttp2Forwarder } from './local-h2.js';
import { forwardTcp, forwardUpgrade } from './local-tunnel.js';
import { localRequestFields, relayResponseFields, respondError } from './relay-fields.js';

/**
 * Serves the relay streams that arrive over the tunnel: each goes to
 * 127.0.0.1:<localPort> of its intercept over a pooled keep-alive connection.
 */
export class LocalForwarder {
  readonly #pools = new Map<number, Pool>();
  readonly #h2: LocalHttp2Forwarder;
  readonly #logger: Logger;
  readonly #portOf: (interceptId: string) => number | undefined;

  constructor(portOf: (interceptId: string) => number | undefined, logger: Logger) {
    this.#portOf = portOf;
    this.#logger = logger;
    this.#h2 = new LocalHttp2Forwarder(logger);
  }

  handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    const interceptId = String(headers[RELAY_HEADER_INTERCEPT_ID]);
    const port = this.#portOf(interceptId);
    if (port === undefined) {
      // The developer left this intercept a moment ago; the agent falls back.
      respondError(stream, new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `this developer no longer holds intercept ${interceptId}`), { [RELAY_HEADER_OFFLINE]: interceptId });
      return;
    }
    // RFC 9113 §8.5 / RFC 8441: a CONNECT stream is a whole connection, not a request.
    if (headers[':method'] === 'CONNECT') {
      if (headers[':protocol'] === undefined) forwardTcp(stream, port, this.#logger);
      else forwardUpgrade(stream, headers, port, this.#logger);
      return;
    }
    // The caller spoke HTTP/2 (gRPC, h2c, TLS with ALPN h2): so does the hop to the local app.
    if (LocalHttp2Forwarder.wants(headers)) {
      this.#h2.handle(stream, headers, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, port);
      return;
    }
    const requestHeaders = localRequestFields(headers, port);
    const hasBody = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) === 0;
    const abort = new AbortController();
    let answered = false;
    // Cancel the app request only when the caller went away before the answer was complete.
    stream.once('close', () => {
      if (!answered) abort.abort();
    });
    this.#pool(port)
      .request({
        method: String(headers[':method']) as Dispatcher.HttpMethod,
        path: String(headers[':path']),
        headers: requestHeaders,
        // undici destroys a body stream when it is done with it; handing it the
        // HTTP/2 stream itself would reset the response side too. A PassThrough
        // keeps backpressure (pipe) and takes that destroy instead.
        body: hasBody ? stream.pipe(new PassThrough()) : null,
        signal: abort.signal,
      })
      .then((response) => {
        if (stream.destroyed) {
          response.body.destroy();
          return;
        }
        stream.respond(relayResponseFields(response.statusCode, response.headers), { waitForTrailers: true });
        stream.on('wantTrailers', () => {
          const trailers: OutgoingHttpHeaders = {};
          for (const [name, value] of Object.entries(response.trailers)) if (value !== undefined) trailers[name] = value;
          stream.sendTrailers(trailers);
        });
        response.body.once('end', () => {
          answered = true;
        });
        response.body.pipe(stream);
        response.body.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
      })
      .catch((err: Error & { code?: string }) => {
        if (abort.signal.aborted) return;
        this.#logger.warn({ interceptId, port, err: err.message }, 'local app unreachable');
        respondError(stream, new DetourError('DETOUR_ERR_LOCAL_APP_UNREACHABLE', `nothing answered on 127.0.0.1:${port} (${err.code ?? err.message}); is your local app running?`, { details: { port } }));
      });
  }

  /** Drops the pool of a port no intercept uses any more. */
  release(port: number): void {
    const pool = this.#pools.get(port);
    this.#pools.delete(port);
    void pool?.close();
    this.#h2.release(port);
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    this.#h2.close();
    await Promise.all(pools.map((pool) => pool.destroy()));
  }

  #pool(port: number): Pool {
    let pool = this.#pools.get(port);
    if (pool === undefined) {
      // No timeouts: a developer paused at a breakpoint, or an SSE stream, must not be cut off by us.
      pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, headersTimeout: 0, bodyTimeout: 0 });
      this.#pools.set(port, pool);
    }
    return pool;
  }
}
