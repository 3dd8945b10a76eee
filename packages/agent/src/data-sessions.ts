import type { ClientHttp2Session } from 'node:http2';
import type { Logger } from '@detour/core';
import { API_PATHS } from '@detour/protocol';
import { startKeepalive } from '@detour/transport';

export interface DataSessionsOptions {
  token: string;
  agentId: string;
  logger: Logger;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** Opens a new HTTP/2 session to the manager. */
  dial(): ClientHttp2Session;
  /** Whether the control link is ready: a data session lost to GOAWAY is replaced at once only then. */
  controlReady(): boolean;
}

interface DataSession {
  session: ClientHttp2Session;
  /** The manager answered the data-session stream: relay streams may go on it. */
  ready: boolean;
}

/**
 * The agent's data sessions to the manager, one HTTP/2 session per online
 * intercept, which carry that intercept's relay streams apart from the control
 * link (watch, acks, reports). Callers cancel matched streams, and every cancel
 * is a RST_STREAM the agent sends on; the manager's nghttp2 answers more than a
 * burst of 1,000 of them (refilled at 33/s, CVE-2023-44487) with GOAWAY
 * INTERNAL_ERROR, which ends every stream on that session. Here that costs the
 * streams of the one intercept whose callers did it, and the session is
 * replaced at once; the agent stays registered and other developers' relays are
 * untouched. Until a data session is ready (its first round trip), relays go
 * on the control session as before.
 */
export class DataSessions {
  readonly #options: DataSessionsOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, DataSession>();
  /** The online intercepts of the last rule set. */
  #wanted = new Set<string>();
  #closed = false;

  constructor(options: DataSessionsOptions) {
    this.#options = options;
    this.#log = options.logger.child({ link: 'data' });
  }

  /** The ready data session of an intercept, if it has one. */
  session(interceptId: string): ClientHttp2Session | undefined {
    const entry = this.#sessions.get(interceptId);
    if (entry === undefined || !entry.ready || entry.session.destroyed || entry.session.closed) return undefined;
    return entry.session;
  }

  /**
   * Follows a new rule set: opens a session for each online intercept without
   * one, and closes those of intercepts gone or offline gracefully (their
   * streams finish; the tunnel pools retire idle tunnels on them).
   */
  retain(onlineInterceptIds: Iterable<string>): void {
    if (this.#closed) return;
    this.#wanted = new Set(onlineInterceptIds);
    for (const [id, entry] of this.#sessions) {
      if (this.#wanted.has(id)) continue;
      this.#sessions.delete(id);
      entry.session.close();
    }
    for (const id of this.#wanted) if (!this.#sessions.has(id)) this.#open(id);
  }

  /** Closes every data session at once. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const sessions = [...this.#sessions.values()].map((entry) => entry.session);
    this.#sessions.clear();
    await Promise.all(
      sessions.map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.destroyed) return resolve();
            session.once('close', () => resolve());
            session.destroy();
          }),
      ),
    );
  }

  #open(interceptId: string): void {
    const session = this.#options.dial();
    const entry: DataSession = { session, ready: false };
    this.#sessions.set(interceptId, entry);
    session.on('error', (err) => this.#lost(interceptId, entry, { err: err.message }));
    session.on('goaway', (code) => this.#lost(interceptId, entry, { goaway: code }));
    session.on('close', () => this.#lost(interceptId, entry, {}));
    session.once('connect', () => {
      startKeepalive(session, {
        intervalMs: this.#options.pingIntervalMs,
        timeoutMs: this.#options.pingTimeoutMs,
        onTimeout: () => this.#lost(interceptId, entry, { reason: `ping unanswered for ${this.#options.pingTimeoutMs} ms` }),
      });
    });
    // The first stream: the manager checks the token and that this agent is watching.
    const stream = session.request({ ':method': 'GET', ':path': API_PATHS.agentDataSession(this.#options.agentId), authorization: `Bearer ${this.#options.token}` });
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      if (status === 204) {
        entry.ready = true;
        this.#log.debug({ interceptId }, 'data session ready');
        return;
      }
      this.#log.warn({ interceptId, status }, 'the manager refused a data session; relays of this intercept stay on the control link');
      this.#lost(interceptId, entry, { status });
    });
    stream.on('error', (err) => this.#lost(interceptId, entry, { err: err.message }));
    stream.resume();
  }

  /**
   * Drops a failed session (once). One that was ready and is still wanted is
   * replaced at once while the control link is up: a GOAWAY here is the
   * manager's answer to this session's resets, not a sign that the manager is
   * unreachable. One that never became ready is not retried before the next
   * rule set, so a refusing manager cannot make this loop.
   */
  #lost(interceptId: string, entry: DataSession, detail: Record<string, unknown>): void {
    if (this.#sessions.get(interceptId) !== entry) return;
    this.#sessions.delete(interceptId);
    if (!entry.session.destroyed) entry.session.destroy();
    if (this.#closed || !entry.ready) return;
    this.#log.info({ interceptId, ...detail }, 'data session lost');
    if (this.#wanted.has(interceptId) && this.#options.controlReady()) this.#open(interceptId);
  }
}
