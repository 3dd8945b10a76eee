import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { RELAY_HEADER_UPSTREAM_PROTOCOL } from '@detour/protocol';
import { forwardToPool, GRPC_STATUS, Http2SessionPool, respondLocalError } from '@detour/transport';
import type { Logger } from '@detour/core';
import type { H2Observer } from './capture/h2-observer.js';

/** Idle sessions to a local app are closed after this; a new stream reconnects. */
const LOCAL_IDLE_TIMEOUT_MS = 30_000;

/**
 * Forwards relay streams whose caller spoke HTTP/2 (`detour-upstream-protocol: h2`:
 * h2c, gRPC, TLS with ALPN h2) to 127.0.0.1:<localPort> over HTTP/2 with prior
 * knowledge, so trailers, streaming both ways and RST_STREAM codes (gRPC
 * status, cancellation, deadlines) reach the local app and come back intact.
 */
export class LocalHttp2Forwarder {
  readonly #pools = new Map<number, Http2SessionPool>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Whether a relay stream is for this forwarder. */
  static wants(headers: IncomingHttpHeaders): boolean {
    return headers[RELAY_HEADER_UPSTREAM_PROTOCOL] === 'h2';
  }

  /** `observer`: the inspector's, only while the dashboard runs. */
  handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, port: number, observer?: H2Observer): void {
    const unreachable = (reason: string) => {
      observer?.unreachable(reason);
      this.#logger.warn({ port, reason }, 'local app unreachable over HTTP/2');
      respondLocalError(stream, headers, {
        status: 502,
        code: 'DETOUR_ERR_LOCAL_APP_UNREACHABLE',
        grpcStatus: GRPC_STATUS.UNAVAILABLE,
        message: `nothing answered HTTP/2 on 127.0.0.1:${port} (${reason}); is your local app running, and does it speak h2c?`,
        details: { port },
      });
    };
    const up = forwardToPool(stream, headers, requestEnded, this.#pool(port), 'http', unreachable);
    if (observer !== undefined && up !== undefined) observer.follow(stream, up);
  }

  /** Drops the sessions to a port no intercept uses any more. */
  release(port: number): void {
    this.#pools.get(port)?.close();
    this.#pools.delete(port);
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.destroy();
    this.#pools.clear();
  }

  #pool(port: number): Http2SessionPool {
    let pool = this.#pools.get(port);
    if (pool === undefined) {
      pool = new Http2SessionPool({ origin: `http://127.0.0.1:${port}`, idleTimeoutMs: LOCAL_IDLE_TIMEOUT_MS });
      this.#pools.set(port, pool);
    }
    return pool;
  }
}
