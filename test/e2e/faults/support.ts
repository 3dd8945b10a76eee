import type { TestContext } from 'node:test';
import { join } from 'node:path';
import { Client } from 'undici';

/**
 * The fault suite runs in two sizes: the quick cases in `npm test`, and the
 * full figures the issue asks for in `npm run test:faults` (DETOUR_FAULTS=full).
 */
export const FULL = process.env.DETOUR_FAULTS === 'full';

/** `quick` in `npm test`, `full` in `npm run test:faults`. */
export function scale<T>(quick: T, full: T): T {
  return FULL ? full : quick;
}

/** Prints one line of figures per case, so every run says what it did and what it saw. */
export function report(t: TestContext, figures: Record<string, unknown>): void {
  t.diagnostic(Object.entries(figures).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : String(v)}`).join(' '));
}

export interface LoadSummary {
  requests: number;
  ok: number;
  /** Transport errors and non-200 answers. */
  failed: number;
  /** Of those, the answers that came with a non-200 status (the rest are connection errors). */
  badStatus: number;
  /** A 200 from the wrong app: the worst outcome, a request routed to someone else. */
  misrouted: number;
  durationMs: number;
  ratePerSec: number;
  /** A few of the failures, for the assertion message. */
  samples: string[];
}

export interface LoadOptions {
  /** Kept-alive connections, each with one request in flight at a time. */
  connections: number;
  headers?: Record<string, string>;
  /** The `app` every answer must name. */
  expectApp: string;
  path?: string;
  /** Stops by itself after this long, whatever happens (every loop is bounded). */
  maxDurationMs: number;
}

/**
 * Closed-loop load over keep-alive connections: each connection sends the next
 * request when the previous answer is read, and every answer is checked for the
 * app that produced it.
 */
export class Load {
  readonly #options: LoadOptions;
  readonly #clients: Client[];
  readonly #loops: Promise<void>[];
  readonly #startedAt = Date.now();
  #stopped = false;
  #summary: Omit<LoadSummary, 'durationMs' | 'ratePerSec'> = { requests: 0, ok: 0, failed: 0, badStatus: 0, misrouted: 0, samples: [] };

  /** Stops with `t` at the latest, so a case that fails half-way leaves no loop running. */
  constructor(t: TestContext, url: string, options: LoadOptions) {
    t.after(() => this.stop());
    this.#options = options;
    // pipelining 1: a request waits for the previous answer; keep-alive for the whole run.
    this.#clients = Array.from({ length: options.connections }, () => new Client(url, { pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 }));
    this.#loops = this.#clients.map((client) => this.#loop(client));
  }

  /** Counts so far. */
  get requests(): number {
    return this.#summary.requests;
  }

  /** Idempotent: the summary of the whole run. */
  async stop(): Promise<LoadSummary> {
    this.#stopped = true;
    await Promise.all(this.#loops);
    await Promise.all(this.#clients.map((c) => c.close().catch(() => undefined)));
    const durationMs = Date.now() - this.#startedAt;
    return { ...this.#summary, durationMs, ratePerSec: (this.#summary.requests * 1000) / durationMs };
  }

  async #loop(client: Client): Promise<void> {
    const { headers = {}, expectApp, path = '/anything', maxDurationMs } = this.#options;
    const deadline = this.#startedAt + maxDurationMs;
    while (!this.#stopped && Date.now() < deadline) {
      const s = this.#summary;
      s.requests++;
      try {
        const response = await client.request({ method: 'GET', path, headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
        const body = (await response.body.json()) as { app?: string };
        if (response.statusCode !== 200) {
          s.badStatus++;
          this.#fail(`status ${response.statusCode}`);
        }
        else if (body.app !== expectApp) {
          s.misrouted++;
          if (s.samples.length < 5) s.samples.push(`answered by ${String(body.app)}`);
        } else s.ok++;
      } catch (err) {
        this.#fail((err as Error).message);
      }
    }
  }

  #fail(why: string): void {
    this.#summary.failed++;
    if (this.#summary.samples.length < 5) this.#summary.samples.push(why);
  }
}

export interface DaemonIntercept {
  id: string;
  name: string;
}

/**
 * The daemon's own control API on `$DETOUR_HOME/daemon.sock`, the one the CLI
 * speaks: used where a case makes more intercepts than CLI processes could be
 * started for in its time (1,000 create/leave cycles).
 */
export class DaemonApi {
  readonly #client: Client;

  constructor(home: string) {
    this.#client = new Client('http://detour-daemon', { socketPath: join(home, 'daemon.sock') });
  }

  async intercept(name: string, service: string, header: [string, string], localPort: number): Promise<DaemonIntercept> {
    const ask = { name, service, headers: [{ name: header[0], op: 'equals', value: header[1] }], paths: [], global: false, onDisconnect: 'fallback', mechanism: 'http', localPort };
    const response = await this.#client.request({ method: 'POST', path: '/intercepts', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ask) });
    const text = await response.body.text();
    if (response.statusCode !== 201) throw new Error(`intercept ${name}: ${response.statusCode} ${text}`);
    return JSON.parse(text) as DaemonIntercept;
  }

  async leave(name: string): Promise<void> {
    const response = await this.#client.request({ method: 'DELETE', path: `/intercepts/${encodeURIComponent(name)}` });
    const text = await response.body.text();
    if (response.statusCode !== 204) throw new Error(`leave ${name}: ${response.statusCode} ${text}`);
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}
