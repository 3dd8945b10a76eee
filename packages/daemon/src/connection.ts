import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Intercept, Preview, PreviewCreate, PreviewList, RecentLogs, ServiceEnvironment, ServiceList, SessionInfo, TraceRequest, TraceResult } from '@detour/protocol';
import { Backoff, DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { ConnectionState, InterceptAsk, LocalIntercept } from './daemon-api.js';
import type { ManagerClient } from './manager-client.js';
import type { LocalForwarder } from './local-forwarder.js';
import { openTunnel } from './tunnel-client.js';
import type { TunnelOptions } from './tunnel-client.js';

export interface ConnectionOptions {
  manager: ManagerClient;
  name: string;
  clientId: string;
  headerValue: string;
  logger: Logger;
  tunnel: TunnelOptions;
  createForwarder: (portOf: (interceptId: string) => number | undefined) => LocalForwarder;
}

/** Errors a retry cannot fix; before the first connection they end `detour connect` (after it, the daemon keeps retrying). */
const FATAL_CODES = new Set([
  'DETOUR_ERR_AUTH_BAD_TOKEN',
  'DETOUR_ERR_AUTH_MISSING_TOKEN',
  'DETOUR_ERR_AUTH_FORBIDDEN',
  'DETOUR_ERR_SESSION_NAME_TAKEN',
  'DETOUR_ERR_TLS_MANAGER_UNTRUSTED',
]);

/**
 * The daemon's link to the manager, as a state machine (connecting → ready →
 * transient-failure → connecting …, or shutdown). The daemon is the source of
 * truth for its developer's intercepts: after any reconnect, and after a
 * manager restart, it opens a new session if needed and re-asserts them.
 */
export class ManagerConnection {
  state: ConnectionState = 'connecting';
  lastError: string | undefined;
  since = Date.now();
  session: SessionInfo | undefined;
  readonly #options: ConnectionOptions;
  readonly #intercepts = new Map<string, LocalIntercept>();
  readonly #forwarder: LocalForwarder;
  readonly #backoff = new Backoff({ initialMs: 100, maxMs: 3_000, multiplier: 2 });
  readonly #stopped = new AbortController();
  #key: string | undefined;
  #tunnel: { closed: Promise<void>; destroy(): void } | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.#forwarder = options.createForwarder((id) => this.#portOf(id));
  }

  get intercepts(): LocalIntercept[] {
    return [...this.#intercepts.values()];
  }

  /** Starts the loop; resolves when first ready, rejects on an error retrying cannot fix (a bad token). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#running = this.#run(resolve, reject);
    });
  }

  /** The manager's API, for calls that need the token only: tokens, the audit log, an admin's `leave --owner`. */
  get manager(): ManagerClient {
    return this.#options.manager;
  }

  /**
   * What an outbound call made for this session sends (the token and the session key);
   * throws DETOUR_ERR_EGRESS_OFFLINE while the daemon is not connected.
   */
  outboundHeaders(): Record<string, string> {
    if (this.state !== 'ready' || this.#key === undefined) {
      throw new DetourError('DETOUR_ERR_EGRESS_OFFLINE', `the daemon is not connected to the manager (${this.lastError ?? this.state}); it keeps retrying, see \`detour status\``);
    }
    return this.#options.manager.authHeaders(this.#key);
  }

  /** The manager's list of services, for `detour list`. */
  services(): Promise<ServiceList> {
    return this.#options.manager.services();
  }

  /** Runs a propagation probe, for `detour trace`; needs the token only, no session. */
  trace(request: TraceRequest): Promise<TraceResult> {
    return this.#options.manager.trace(request);
  }

  /** The manager's and agents' recent logs, for `detour gather-logs`; the manager asks for a live session. */
  recentLogs(): Promise<RecentLogs> {
    return this.#options.manager.recentLogs(this.#readyKey());
  }

  async addIntercept(ask: InterceptAsk): Promise<Intercept> {
    const key = this.#readyKey();
    if (this.#intercepts.has(ask.name)) {
      throw new DetourError('DETOUR_ERR_INTERCEPT_NAME_TAKEN', `you already have an intercept named ${ask.name}; run \`detour leave ${ask.name}\` or pass --name`);
    }
    const spec = { ...ask, id: randomUUID() };
    const intercept = await this.#options.manager.createIntercept(spec, key);
    this.#intercepts.set(spec.name, { spec, intercept });
    return intercept;
  }

  async removeIntercept(name: string): Promise<void> {
    const local = this.#intercepts.get(name);
    if (local === undefined) {
      const names = [...this.#intercepts.keys()];
      throw new DetourError('DETOUR_ERR_INTERCEPT_NOT_FOUND', `you have no intercept named ${name}; yours: ${names.length === 0 ? '(none)' : names.join(', ')}`);
    }
    if (this.#key !== undefined && local.intercept !== undefined) {
      try {
        await this.#options.manager.removeIntercept(local.spec.id, this.#key);
      } catch (err) {
        // Already gone on the manager (lease expired, restart): leaving still succeeds.
        if (!isDetourError(err) || (err.code !== 'DETOUR_ERR_INTERCEPT_NOT_FOUND' && err.code !== 'DETOUR_ERR_SESSION_UNKNOWN')) throw err;
      }
    }
    this.#intercepts.delete(name);
    if (![...this.#intercepts.values()].some((i) => i.spec.localPort === local.spec.localPort)) this.#forwarder.release(local.spec.localPort);
  }

  /** Creates a preview of one of this daemon's intercepts, named as the developer named it. */
  async createPreview(name: string, create: PreviewCreate): Promise<Preview> {
    const key = this.#readyKey();
    const local = this.#intercepts.get(name);
    if (local === undefined) {
      const names = [...this.#intercepts.keys()];
      throw new DetourError('DETOUR_ERR_INTERCEPT_NOT_FOUND', `you have no intercept named ${name}; yours: ${names.length === 0 ? '(none)' : names.join(', ')} (see \`detour status\`)`);
    }
    return this.#options.manager.createPreview(local.spec.id, create, key);
  }

  /** The environment an agent of `service` published (`detour agent --env-file`), read with this session's key. */
  serviceEnvironment(service: string): Promise<ServiceEnvironment> {
    return this.#options.manager.serviceEnvironment(service, this.#readyKey());
  }

  /** The previews of this daemon's intercepts, as the manager holds them. */
  previews(): Promise<PreviewList> {
    return this.#options.manager.previews(this.#readyKey());
  }

  /** Removes a preview named by its id, a prefix of it (at least 6 characters), or one of its URLs; answers what was removed. */
  async removePreview(ref: string): Promise<Preview> {
    const key = this.#readyKey();
    // A whole id anywhere in the text (a URL or share link pasted as it was printed), else a prefix as typed.
    const id = /(?<![a-z2-7])[a-z2-7]{32}(?![a-z2-7])/.exec(ref.toLowerCase())?.[0] ?? ref.trim().toLowerCase();
    const { previews } = await this.#options.manager.previews(key);
    const found = previews.filter((p) => (p.id === undefined ? id.startsWith(p.hint) || p.hint.startsWith(id) : p.id.startsWith(id)) && id.length >= 6);
    if (found.length !== 1) {
      throw new DetourError(
        'DETOUR_ERR_PREVIEW_NOT_FOUND',
        found.length === 0 ? `you have no preview ${ref}; see \`detour preview list\`` : `${ref} names ${found.length} previews; give more of the id`,
      );
    }
    await this.#options.manager.removePreview(found[0]!.interceptId, id, key);
    return found[0]!;
  }

  /** Leaves every intercept, ends the session and stops reconnecting. */
  async shutdown(): Promise<void> {
    if (this.state === 'shutdown') return;
    this.state = 'shutdown';
    this.#stopped.abort();
    clearInterval(this.#heartbeat);
    if (this.session !== undefined && this.#key !== undefined) {
      try {
        await this.#options.manager.endSession(this.session.id, this.#key);
      } catch (err) {
        this.#options.logger.warn({ err: (err as Error).message }, 'could not end the session; its lease will expire');
      }
    }
    this.#tunnel?.destroy();
    await this.#running;
    await this.#forwarder.close();
    await this.#options.manager.close();
  }

  /** The session key, while the session is up. */
  #readyKey(): string {
    if (this.state !== 'ready' || this.#key === undefined) {
      throw new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `the daemon is not connected to ${this.#options.manager.url} (${this.lastError ?? this.state}); it keeps retrying, see \`detour status\``);
    }
    return this.#key;
  }

  #isShutdown(): boolean {
    return this.state === 'shutdown';
  }

  #portOf(interceptId: string): number | undefined {
    for (const local of this.#intercepts.values()) if (local.spec.id === interceptId) return local.spec.localPort;
    return undefined;
  }

  #setState(state: ConnectionState, error?: string): void {
    if (this.state === 'shutdown') return;
    if (state !== this.state) this.#options.logger.info({ from: this.state, to: state, error }, 'connection state');
    this.state = state;
    this.since = Date.now();
    if (error !== undefined) this.lastError = error;
    if (state === 'ready') this.lastError = undefined;
  }

  async #run(onReady: () => void, onFatal: (err: Error) => void): Promise<void> {
    const { manager, logger } = this.#options;
    let everReady = false;
    while (!this.#isShutdown()) {
      try {
        this.#setState('connecting');
        if (this.session !== undefined) {
          // After a lost tunnel, check the session first: a restarted manager has forgotten it.
          this.session = await manager.heartbeat(this.session.id, this.#key!);
        }
        if (this.session === undefined) {
          const created = await manager.createSession({ name: this.#options.name, clientId: this.#options.clientId, headerValue: this.#options.headerValue });
          this.session = created.session;
          this.#key = created.key;
          this.#startHeartbeat(created.session.leaseMs);
        }
        const tunnel = await openTunnel(manager, this.#key!, this.#forwarder, this.#options.tunnel, logger);
        this.#tunnel = tunnel;
        await this.#reassert();
        this.#setState('ready');
        this.#backoff.reset();
        if (!everReady) {
          everReady = true;
          onReady();
        }
        await tunnel.closed;
        if (this.#isShutdown()) break;
        this.#setState('transient-failure', 'the tunnel to the manager closed');
      } catch (err) {
        if (this.#isShutdown()) break;
        const message = (err as Error).message;
        if (isDetourError(err) && err.code === 'DETOUR_ERR_SESSION_UNKNOWN') this.session = undefined;
        if (isDetourError(err) && FATAL_CODES.has(err.code) && !everReady) {
          this.#setState('shutdown', message);
          onFatal(err);
          break;
        }
        this.#tunnel?.destroy();
        this.#setState('transient-failure', message);
      }
      try {
        await sleep(this.#backoff.nextDelayMs(), undefined, { signal: this.#stopped.signal });
      } catch {
        break;
      }
    }
    clearInterval(this.#heartbeat);
  }

  /** Renews the lease at a third of its length, so two lost heartbeats are survived. */
  #startHeartbeat(leaseMs: number): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => void this.#beat(), Math.max(100, Math.floor(leaseMs / 3)));
    this.#heartbeat.unref();
  }

  async #beat(): Promise<void> {
    const { session } = this;
    if (session === undefined || this.#key === undefined) return;
    try {
      this.session = await this.#options.manager.heartbeat(session.id, this.#key);
      if (this.state === 'ready' && this.intercepts.some((i) => i.error !== undefined)) await this.#reassert();
    } catch (err) {
      if (isDetourError(err) && err.code === 'DETOUR_ERR_SESSION_UNKNOWN') {
        // The manager restarted or our lease expired: start over with a new session.
        this.session = undefined;
        this.#tunnel?.destroy();
      }
      this.#options.logger.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  async #reassert(): Promise<void> {
    for (const local of this.#intercepts.values()) {
      try {
        local.intercept = await this.#options.manager.createIntercept(local.spec, this.#key!);
        local.error = undefined;
      } catch (err) {
        if (!isDetourError(err)) throw err;
        local.error = err.message;
        this.#options.logger.warn({ intercept: local.spec.name, err: err.message }, 'could not re-assert intercept');
      }
    }
  }
}
