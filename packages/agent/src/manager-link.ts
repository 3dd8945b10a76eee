import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, ClientSessionRequestOptions, OutgoingHttpHeaders } from 'node:http2';
import diagnostics from 'node:diagnostics_channel';
import { Backoff } from '@detour/core';
import type { Logger } from '@detour/core';
import { API_PATHS, ErrorBodySchema, LogsRequestLineSchema, RELAY_HEADER_INTERCEPT_ID, RuleSetSchema } from '@detour/protocol';
import type { AgentEnvironment, AgentProtocol, RuleSet } from '@detour/protocol';
import { MAX_HEADER_LIST_PAIRS, connectToManager, managerTlsFailure, startKeepalive, widenSessionWindow } from '@detour/transport';
import type { ManagerEndpoint } from '@detour/transport';
import { DataSessions } from './data-sessions.js';

/** Connectivity states (grpc-js `connectivity-state.ts`). `ready`: the watch stream delivered its first rule set. */
export type LinkState = 'idle' | 'connecting' | 'ready' | 'transient-failure' | 'shutdown';

/** Link state changes, published on `detour:agent:link`. */
export const linkChannel = diagnostics.channel('detour:agent:link');

export interface ManagerLinkOptions {
  manager: ManagerEndpoint;
  token: string;
  service: string;
  agentId: string;
  /** `host:port` callers reach this agent at, reported to the manager. */
  listen: string;
  /** What the agent's port speaks; the manager refuses intercepts that cannot work on it (e.g. a header matcher on raw TCP). */
  protocol: AgentProtocol;
  logger: Logger;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** Installs a rule set; returns false when it could not be compiled (then it is not acknowledged). */
  install(ruleSet: RuleSet): boolean;
  /** The agent's recent log lines (NDJSON), sent when the manager asks for them (`detour gather-logs`). */
  recentLogs(): string;
  /** The app's environment to publish at start (`--env-file`), sent on every new session before its first ack; values are never logged. */
  environment: AgentEnvironment | undefined;
}

/** How long the first ack of a session waits for the manager to take the published environment. */
const ENVIRONMENT_PUBLISH_TIMEOUT_MS = 5_000;

/** Largest NDJSON line accepted from the watch stream. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * Windows for what the manager sends us (developers' responses, on long-lived
 * tunnel streams): node's 64 KiB defaults would stall a large body on every
 * window update and let one stream's body starve the others. 256 KiB per
 * stream is enough on the in-cluster hop to the manager (1 MiB measured no
 * faster) and bounds what a stream to a slow client can hold here.
 */
const LINK_SETTINGS: http2.Settings = { initialWindowSize: 256 * 1024 };

/**
 * The agent's link to the manager: a control session (the watch stream of rule
 * sets, acks, reports) and a data session per online intercept for the relay
 * streams of matched requests ({@link DataSessions}), so that what callers do to
 * relay streams cannot cost the agent its registration. The agent always dials;
 * on any failure of the control session it keeps its last rules (unmatched
 * traffic never depends on the manager) and reconnects with jittered backoff.
 */
export class ManagerLink {
  readonly #options: ManagerLinkOptions;
  readonly #backoff: Backoff;
  readonly #log: Logger;
  #state: LinkState = 'idle';
  #session: ClientHttp2Session | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;
  /** The last TLS failure logged, so that a manager that stays untrusted is not logged again on every retry. */
  #lastTlsFailure: string | undefined;
  /** Per session: settles once the environment was offered on it; every ack waits for it (see #ruleSetLine). */
  readonly #published = new WeakMap<ClientHttp2Session, Promise<void>>();
  /** What is published; replaced by {@link publish} (`SIGHUP` re-reads `--env-file`). */
  #environment: AgentEnvironment | undefined;
  readonly #data: DataSessions;

  constructor(options: ManagerLinkOptions) {
    this.#options = options;
    this.#log = options.logger.child({ link: 'manager' });
    this.#backoff = new Backoff({ initialMs: options.reconnectInitialMs, maxMs: options.reconnectMaxMs, multiplier: 2 });
    this.#environment = options.environment;
    this.#data = new DataSessions({
      token: options.token,
      agentId: options.agentId,
      logger: options.logger,
      pingIntervalMs: options.pingIntervalMs,
      pingTimeoutMs: options.pingTimeoutMs,
      dial: () => this.#dial(),
      controlReady: () => this.ready,
    });
  }

  /**
   * Replaces the published environment: sent at once on a ready session (the manager
   * keeps the last one it got), and on every later session before its first ack.
   */
  publish(environment: AgentEnvironment): Promise<void> {
    this.#environment = environment;
    const session = this.#session;
    if (this.#state !== 'ready' || session === undefined) return Promise.resolve();
    return this.#publishEnvironment(session);
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Whether matched requests can be relayed now. */
  get ready(): boolean {
    return this.#state === 'ready';
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#connect();
  }

  /**
   * Opens a relay stream (its headers name the intercept) on that intercept's
   * data session, or on the control session while the data session is not
   * ready; undefined while the link is not ready.
   */
  request(headers: OutgoingHttpHeaders, options: ClientSessionRequestOptions): ClientHttp2Stream | undefined {
    const session = this.#data.session(String(headers[RELAY_HEADER_INTERCEPT_ID])) ?? this.#session;
    if (this.#state !== 'ready' || session === undefined || session.destroyed || session.closed) return undefined;
    try {
      return session.request(headers, options);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'relay stream could not be opened');
      return undefined;
    }
  }

  /** Sends a small JSON report (a trace sighting) on the session; dropped while the link is not ready, since reports are best-effort. */
  post(path: string, body: unknown): void {
    this.#report(path, 'application/json', JSON.stringify(body));
  }

  #report(path: string, contentType: string, body: string): void {
    const session = this.#session;
    if (this.#state !== 'ready' || session === undefined || session.destroyed || session.closed) return;
    const stream = session.request({ ':method': 'POST', ':path': path, authorization: `Bearer ${this.#options.token}`, 'content-type': contentType });
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      if (status >= 300) this.#log.debug({ status, path }, 'the manager did not take a report');
    });
    stream.on('error', (err) => this.#log.debug({ err: err.message, path }, 'report failed'));
    stream.resume();
    stream.end(body);
  }

  /** Stops reconnecting and closes the session. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.#setState('shutdown');
      clearTimeout(this.#reconnectTimer);
      const session = this.#session;
      this.#session = undefined;
      const dataClosed = this.#data.close();
      if (session === undefined || session.destroyed) {
        resolve(dataClosed);
        return;
      }
      session.once('close', () => resolve(dataClosed));
      session.destroy();
    });
    return this.#closed;
  }

  #setState(state: LinkState, detail?: Record<string, unknown>): void {
    if (this.#state === state) return;
    const previous = this.#state;
    this.#state = state;
    if (state === 'ready') this.#log.info({ state, previous }, 'manager link ready');
    else if (state === 'transient-failure') this.#log.warn({ state, previous, ...detail }, 'manager link down; keeping the last rules and reconnecting');
    else this.#log.debug({ state, previous }, 'manager link state');
    if (linkChannel.hasSubscribers) linkChannel.publish({ agentId: this.#options.agentId, state, previous });
  }

  #connect(): void {
    if (this.#state === 'shutdown') return;
    this.#setState('connecting');
    const { manager } = this.#options;
    const session = this.#dial();
    this.#session = session;
    session.on('error', (err) => {
      const untrusted = managerTlsFailure(err, manager);
      if (untrusted !== undefined && untrusted.message !== this.#lastTlsFailure) {
        this.#lastTlsFailure = untrusted.message;
        this.#log.error({ code: untrusted.code }, untrusted.message);
      }
      this.#down(session, { err: err.message });
    });
    session.on('goaway', (code) => this.#down(session, { goaway: code }));
    session.on('close', () => this.#down(session, {}));
    session.once('connect', () => {
      startKeepalive(session, {
        intervalMs: this.#options.pingIntervalMs,
        timeoutMs: this.#options.pingTimeoutMs,
        onTimeout: () => this.#down(session, { reason: `ping unanswered for ${this.#options.pingTimeoutMs} ms` }),
      });
      this.#watch(session);
    });
  }

  /** A new session to the manager, control or data. */
  #dial(): ClientHttp2Session {
    // Nagle off: relayed requests are many small frames, and Nagle plus delayed
    // ACKs would add ~40 ms to each round trip.
    const { manager } = this.#options;
    const session = http2.connect(manager.origin, {
      settings: LINK_SETTINGS,
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
      createConnection: () => connectToManager(manager, ['h2']),
    });
    session.once('connect', () => widenSessionWindow(session));
    return session;
  }

  #watch(session: ClientHttp2Session): void {
    const { service, agentId, listen, protocol, token } = this.#options;
    const query = new URLSearchParams({ service, agentId, listen, protocol });
    const stream = session.request({
      ':method': 'GET',
      ':path': `${API_PATHS.agentWatch}?${query.toString()}`,
      authorization: `Bearer ${token}`,
    });
    stream.setEncoding('utf8');
    let status = 0;
    let text = '';
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: string) => {
      text += chunk;
      if (status !== 200) return;
      let newline = text.indexOf('\n');
      while (newline !== -1) {
        const line = text.slice(0, newline).trim();
        text = text.slice(newline + 1);
        if (line.length > 0) this.#ruleSetLine(session, line);
        newline = text.indexOf('\n');
      }
      if (text.length > MAX_LINE_BYTES) {
        this.#log.error({ bytes: text.length }, 'watch stream line too long; reconnecting');
        session.destroy();
      }
    });
    stream.on('end', () => {
      if (status !== 200) this.#refused(status, text);
      this.#down(session, { reason: status === 200 ? 'watch stream ended' : `watch refused with ${status}` });
    });
    stream.on('error', (err) => this.#down(session, { err: err.message }));
  }

  #refused(status: number, text: string): void {
    const parsed = ErrorBodySchema.safeParse(safeJson(text));
    const code = parsed.success ? parsed.data.error.code : undefined;
    const message = parsed.success ? parsed.data.error.message : `HTTP ${status}`;
    if (status === 401) {
      this.#log.error({ status, code }, `the manager refused the agent token (${message}); check the token the agent was started with`);
    } else {
      this.#log.error({ status, code }, `the manager refused the watch: ${message}`);
    }
  }

  #ruleSetLine(session: ClientHttp2Session, line: string): void {
    const value = safeJson(line);
    if (typeof value === 'object' && value !== null && 'logsRequest' in value) {
      this.#logsRequest(value);
      return;
    }
    const parsed = RuleSetSchema.safeParse(value);
    if (!parsed.success) {
      this.#log.error({ issues: parsed.error.issues.length }, 'ignoring an invalid rule set from the manager');
      return;
    }
    const ruleSet = parsed.data;
    if (!this.#options.install(ruleSet)) return;
    this.#log.info({ version: ruleSet.version, intercepts: ruleSet.intercepts.length }, 'rule set installed');
    // Ready at once, in the same turn as install(): install() releases the connections held until the
    // first rule set, and a request decided while the link is not ready takes its intercept's offline
    // policy (a restarted replica sent each held connection's first matched request to the app).
    if (this.#state === 'connecting') {
      this.#lastTlsFailure = undefined;
      this.#backoff.reset();
      this.#setState('ready');
    }
    // The manager forgets an agent's environment when its watch ends, so it is sent again on each
    // session; acks wait for it (in order), so once `detour intercept` returns, the environment is there.
    let published = this.#published.get(session);
    if (published === undefined) {
      published = this.#publishEnvironment(session);
      this.#published.set(session, published);
    }
    void published.then(() => {
      if (this.#session !== session) return;
      this.#ack(session, ruleSet.version);
      this.#data.retain(ruleSet.intercepts.filter((intercept) => intercept.online).map((intercept) => intercept.id));
    });
  }

  /** Posts the app's environment on the session; settles either way: an agent without it still routes. */
  #publishEnvironment(session: ClientHttp2Session): Promise<void> {
    const { agentId, token } = this.#options;
    const environment = this.#environment;
    if (environment === undefined || session.destroyed || session.closed) return Promise.resolve();
    return new Promise<void>((settle) => {
      // Acks wait for this: a manager that takes the stream but never answers must not keep the agent from becoming ready.
      const timer = setTimeout(() => {
        this.#log.warn({ timeoutMs: ENVIRONMENT_PUBLISH_TIMEOUT_MS }, 'the manager did not answer the app environment in time; going on without it');
        settle();
      }, ENVIRONMENT_PUBLISH_TIMEOUT_MS).unref();
      const resolve = () => {
        clearTimeout(timer);
        settle();
      };
      const stream = session.request({ ':method': 'POST', ':path': API_PATHS.agentEnvironment(agentId), authorization: `Bearer ${token}`, 'content-type': 'application/json' });
      let status = 0;
      let text = '';
      stream.setEncoding('utf8');
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => {
        if (status === 204) this.#log.info({ variables: environment.variables.length }, 'app environment published to the manager');
        else {
          const parsed = ErrorBodySchema.safeParse(safeJson(text));
          const why = parsed.success ? parsed.data.error.message : `HTTP ${status}`;
          this.#log.warn({ status, code: parsed.success ? parsed.data.error.code : undefined }, `the manager did not take the app environment: ${why}; \`detour intercept --env-file\` will not find it`);
        }
        resolve();
      });
      stream.on('close', () => resolve());
      stream.on('error', (err) => {
        this.#log.warn({ err: err.message }, 'publishing the app environment failed');
        resolve();
      });
      stream.end(JSON.stringify(environment));
    });
  }

  /** The manager asked for our recent lines: they go back on this session, like a report (the manager cannot dial us). */
  #logsRequest(value: unknown): void {
    const parsed = LogsRequestLineSchema.safeParse(value);
    if (!parsed.success) {
      this.#log.warn({ issues: parsed.error.issues.length }, 'ignoring an invalid logs request from the manager');
      return;
    }
    this.#log.debug({ requestId: parsed.data.logsRequest.id }, 'sending recent logs to the manager');
    this.#report(API_PATHS.agentLogs(this.#options.agentId, parsed.data.logsRequest.id), 'application/x-ndjson', this.#options.recentLogs());
  }

  /** The manager waits for every agent's ack before `detour intercept` returns, so it is sent once the table is live. */
  #ack(session: ClientHttp2Session, version: number): void {
    if (session.destroyed || session.closed) return;
    const stream = session.request({
      ':method': 'POST',
      ':path': API_PATHS.agentAck(this.#options.agentId),
      authorization: `Bearer ${this.#options.token}`,
      'content-type': 'application/json',
    });
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      if (status !== 204 && status !== 200) this.#log.warn({ status, version }, 'the manager did not accept the rule set ack');
    });
    stream.on('error', (err) => this.#log.warn({ err: err.message, version }, 'rule set ack failed'));
    stream.resume();
    stream.end(JSON.stringify({ version }));
  }

  /** Drops a failed session (once) and schedules the next attempt. */
  #down(session: ClientHttp2Session, detail: Record<string, unknown>): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    if (!session.destroyed) session.destroy();
    if (this.#state === 'shutdown') return;
    this.#setState('transient-failure', detail);
    const delayMs = this.#backoff.nextDelayMs();
    this.#reconnectTimer = setTimeout(() => this.#connect(), delayMs).unref();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
