import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { ErrorBodySchema } from '@detour/protocol';
import { DetourError, errorFromBody } from '@detour/core';
import type { Logger } from '@detour/core';
import { MAX_HEADER_LIST_PAIRS, RELAY_HTTP2_SETTINGS, connectToManager, startKeepalive, widenSessionWindow } from '@detour/transport';
import type { ManagerEndpoint } from '@detour/transport';

/** The largest error body read from a refused CONNECT; the manager's are a few hundred bytes. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

export interface EgressClientOptions {
  /** The manager as the daemon reaches it (direct, or a port-forward's local end), and how it is verified (transport's `managerEndpoint`). */
  manager: () => ManagerEndpoint;
  /** The token and session key for a call made for the session; throws DETOUR_ERR_EGRESS_OFFLINE while there is none. */
  authHeaders: () => Record<string, string>;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  logger: Logger;
}

/**
 * Outbound connections of laptop processes, each a plain CONNECT stream
 * (RFC 9113 §8.5) on one HTTP/2 session from the daemon to the manager: the way
 * agents already speak to the manager, so no new framing. (The tunnel cannot
 * carry them: on it the manager is the HTTP/2 client, and only clients open
 * streams.) The session is opened on first use and again after it dies.
 */
export class EgressClient {
  readonly #options: EgressClientOptions;
  #session: ClientHttp2Session | undefined;

  constructor(options: EgressClientOptions) {
    this.#options = options;
  }

  /** Opens a byte stream to `host:port` inside the environment; rejects with the manager's refusal (DETOUR_ERR_EGRESS_*). */
  open(host: string, port: number): Promise<ClientHttp2Stream> {
    const headers = this.#options.authHeaders();
    const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const session = this.#current();
    return new Promise((resolve, reject) => {
      let stream: ClientHttp2Stream;
      try {
        stream = session.request({ ':method': 'CONNECT', ':authority': authority, ...headers });
      } catch (err) {
        reject(offline(`the session to the manager is closing (${(err as Error).message})`, err));
        return;
      }
      const early = (err: Error) => reject(offline(`the stream to the manager failed: ${err.message}`, err));
      stream.once('error', early);
      stream.once('close', () => reject(offline('the manager closed the stream before answering')));
      stream.once('response', (responseHeaders) => {
        stream.off('error', early);
        // From here a failure (the destination reset, a CONNECT_ERROR) ends the caller's splice through
        // 'close'; without a listener the 'error' node emits with it would crash the daemon.
        stream.on('error', () => undefined);
        const status = Number(responseHeaders[':status']);
        if (status === 200) {
          resolve(stream);
          return;
        }
        readError(stream, status).then(reject, reject);
      });
    });
  }

  close(): void {
    this.#session?.destroy();
    this.#session = undefined;
  }

  #current(): ClientHttp2Session {
    if (this.#session !== undefined && !this.#session.closed && !this.#session.destroyed) return this.#session;
    const { logger, pingIntervalMs, pingTimeoutMs } = this.#options;
    const manager = this.#options.manager();
    const session = http2.connect(manager.origin, { settings: RELAY_HTTP2_SETTINGS, maxHeaderListPairs: MAX_HEADER_LIST_PAIRS, createConnection: () => connectToManager(manager, ['h2']) });
    session.on('error', (err) => logger.debug({ err: err.message }, 'outbound session error'));
    session.once('connect', () => widenSessionWindow(session));
    startKeepalive(session, {
      intervalMs: pingIntervalMs,
      timeoutMs: pingTimeoutMs,
      onTimeout: () => {
        logger.warn('outbound session ping timed out; the next call reconnects');
        session.destroy();
      },
    });
    session.once('close', () => {
      if (this.#session === session) this.#session = undefined;
    });
    // Idle between calls is normal; the session must not keep the daemon's event loop alive on its own.
    session.unref();
    this.#session = session;
    return session;
  }
}

function offline(message: string, cause?: unknown): DetourError {
  return new DetourError('DETOUR_ERR_EGRESS_OFFLINE', message, cause === undefined ? {} : { cause });
}

async function readError(stream: ClientHttp2Stream, status: number): Promise<DetourError> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ERROR_BODY_BYTES) break;
    chunks.push(chunk);
  }
  stream.close();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    body = undefined;
  }
  const parsed = ErrorBodySchema.safeParse(body);
  if (parsed.success) return errorFromBody(parsed.data);
  return new DetourError('DETOUR_ERR_INTERNAL_BUG', `the manager answered ${status} to an outbound CONNECT without an error body`);
}
