import type { ServerResponse } from 'node:http';
import type { DashboardEvent, EnvironmentView } from '@detour/dashboard-ui/model';
import type { ExchangeRing } from '../capture/exchange-ring.js';

/** How often the environment is fetched again while a browser watches. */
export const ENVIRONMENT_POLL_MS = 1_000;
/** SSE comment lines keep idle connections from being closed by anything in between. */
const KEEPALIVE_MS = 15_000;

/**
 * The dashboard's live updates over server-sent events: each captured
 * exchange as it is added or answered, and the environment whenever it
 * changed. The manager is asked only while at least one browser listens.
 */
export class LiveFeed {
  readonly #ring: ExchangeRing;
  readonly #environment: () => Promise<EnvironmentView>;
  readonly #clients = new Set<ServerResponse>();
  readonly #unsubscribe: () => void;
  #timer: NodeJS.Timeout | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #last: EnvironmentView | undefined;
  #lastJson = '';
  #polling = false;

  constructor(ring: ExchangeRing, environment: () => Promise<EnvironmentView>) {
    this.#ring = ring;
    this.#environment = environment;
    this.#unsubscribe = ring.subscribe({
      put: (exchange) => this.#broadcast({ type: 'exchange', exchange }),
      // The browser forgets what the daemon forgot, so its memory is bounded by the same budget.
      dropped: (ids) => this.#broadcast({ type: 'dropped', ids }),
    });
  }

  get environment(): EnvironmentView | undefined {
    return this.#last;
  }

  /** Takes an SSE response: sends the whole picture, then changes. */
  async attach(res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    this.#clients.add(res);
    res.once('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stop();
    });
    if (this.#last === undefined) await this.refresh();
    send(res, { type: 'reset', exchanges: this.#ring.list(), environment: this.#last });
    this.#start();
  }

  cleared(): void {
    this.#broadcast({ type: 'cleared' });
  }

  /** Fetches the environment now and pushes it if it changed. */
  async refresh(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const view = await this.#environment();
      const json = JSON.stringify(view);
      this.#last = view;
      if (json === this.#lastJson) return;
      this.#lastJson = json;
      this.#broadcast({ type: 'environment', environment: view });
    } finally {
      this.#polling = false;
    }
  }

  close(): void {
    this.#unsubscribe();
    this.#stop();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  #start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.refresh().catch(() => undefined), ENVIRONMENT_POLL_MS);
    this.#timer.unref();
    this.#keepalive = setInterval(() => {
      for (const res of this.#clients) res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  #stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#keepalive);
    this.#timer = undefined;
    this.#keepalive = undefined;
  }

  #broadcast(event: DashboardEvent): void {
    for (const res of this.#clients) send(res, event);
  }
}

function send(res: ServerResponse, event: DashboardEvent): void {
  res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
}
