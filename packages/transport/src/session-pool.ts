import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { ClientHttp2Session, ClientHttp2Stream, ClientSessionRequestOptions, OutgoingHttpHeaders } from 'node:http2';
import { MAX_HEADER_LIST_PAIRS, STREAM_WINDOW_BYTES, widenSessionWindow } from './http2-windows.js';
import { dialSocket } from './splice.js';

export interface Http2SessionPoolOptions {
  /** `http://host:port` (h2c with prior knowledge, RFC 9113 §3.3) or `https://host:port` (ALPN h2). */
  origin: string;
  /** TLS options for an https origin: `ca`, and `servername` (undefined for an IP host: no SNI, RFC 6066 §3). */
  tls?: { ca: string | Buffer | undefined; servername: string | undefined } | undefined;
  /** A session with no stream for this long is closed (GOAWAY), before the app's own idle timer does it under us. */
  idleTimeoutMs: number;
}

interface PooledSession {
  session: ClientHttp2Session;
  active: number;
}

/**
 * HTTP/2 client sessions to one upstream: usually one, multiplexing every
 * stream; another is opened only when all are at the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §5.1.2). A session that fails,
 * closes or receives GOAWAY takes no new streams, so the next request
 * reconnects.
 */
export class Http2SessionPool {
  readonly #options: Http2SessionPoolOptions;
  readonly #sessions: PooledSession[] = [];
  #closed = false;

  constructor(options: Http2SessionPoolOptions) {
    this.#options = options;
  }

  /** Opens a stream; throws when the pool is closed or the session cannot take it (the caller answers 502). */
  request(headers: OutgoingHttpHeaders, options: ClientSessionRequestOptions): ClientHttp2Stream {
    if (this.#closed) throw new Error('the HTTP/2 pool is closed');
    const pooled = this.#sessions.find((p) => p.active < (p.session.remoteSettings.maxConcurrentStreams ?? Infinity)) ?? this.#connect();
    const stream = pooled.session.request(headers, options);
    pooled.active++;
    stream.once('close', () => {
      pooled.active--;
    });
    return stream;
  }

  /** Sends GOAWAY on every session; streams in flight finish. */
  close(): void {
    this.#closed = true;
    for (const pooled of this.#sessions.splice(0)) pooled.session.close();
  }

  destroy(): void {
    this.#closed = true;
    for (const pooled of this.#sessions.splice(0)) pooled.session.destroy();
  }

  /** Nagle off: streams are many small frames, and Nagle with delayed ACKs would add ~40 ms to a round trip. */
  #socket(url: URL): Duplex {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (url.protocol === 'http:') return dialSocket({ host, port: Number(url.port || 80), tls: undefined });
    // RFC 9113 §3.2: h2 over TLS is negotiated with ALPN.
    return dialSocket({ host, port: Number(url.port || 443), tls: this.#options.tls }, { alpn: ['h2'] });
  }

  #connect(): PooledSession {
    const session = http2.connect(this.#options.origin, {
      settings: { initialWindowSize: STREAM_WINDOW_BYTES },
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
      createConnection: (url: URL) => this.#socket(url),
    });
    const pooled: PooledSession = { session, active: 0 };
    this.#sessions.push(pooled);
    const forget = () => {
      const at = this.#sessions.indexOf(pooled);
      if (at !== -1) this.#sessions.splice(at, 1);
    };
    // Each stream on it sees the failure itself; the pool only stops handing the session out.
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    widenSessionWindow(session);
    session.setTimeout(this.#options.idleTimeoutMs, () => {
      if (pooled.active === 0) {
        forget();
        session.close();
      }
    });
    // The agent's listener keeps the process alive; an idle pooled session must not.
    session.unref();
    return pooled;
  }
}
