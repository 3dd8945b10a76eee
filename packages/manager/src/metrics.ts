import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ManagerState } from './state.js';

/**
 * Rule push latency bounds in seconds: an agent on the same network acks in
 * about a millisecond; ackTimeoutMs (10 s by default) caps what can happen.
 */
const PUSH_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The manager's metrics, in a registry of its own. Everything about the
 * manager's state (sessions, tunnels, intercepts, agents, versions) is read
 * from {@link ManagerState} at scrape time, so series of a session or service
 * that went away disappear with it; only API calls and push latencies are
 * counted as they happen.
 *
 * Cardinality: `developer` is a session's name (one series per connected
 * developer, gone when the session ends), `service` one per service with an
 * agent or an intercept, `route` the API route's pattern, never its concrete
 * path. Header values, session keys, tokens and intercept ids never become
 * labels.
 */
export class ManagerMetrics {
  readonly registry = new Registry();
  readonly #api: Counter<'method' | 'route' | 'status'>;
  readonly #push: Histogram;

  constructor(state: ManagerState) {
    const registers = [this.registry];
    new Gauge({
      name: 'detour_manager_sessions',
      help: 'Open developer sessions (daemons holding a lease).',
      registers,
      collect() {
        this.set(state.sessions().length);
      },
    });
    new Gauge({
      name: 'detour_manager_tunnel_connected',
      help: "Whether each developer's tunnel is up (1) or down (0), by session name; a name used by two sessions sums them.",
      labelNames: ['developer'],
      registers,
      collect() {
        const up = new Map<string, number>();
        for (const session of state.sessions()) up.set(session.name, (up.get(session.name) ?? 0) + (session.tunnel === 'connected' ? 1 : 0));
        this.reset();
        for (const [developer, count] of up) this.set({ developer }, count);
      },
    });
    new Gauge({
      name: 'detour_manager_intercepts',
      help: 'Intercepts, by service and state (online: its developer is connected; offline: its offline policy applies).',
      labelNames: ['service', 'state'],
      registers,
      collect() {
        this.reset();
        for (const service of state.services()) {
          const online = service.intercepts.filter((i) => i.online).length;
          this.set({ service: service.name, state: 'online' }, online);
          this.set({ service: service.name, state: 'offline' }, service.intercepts.length - online);
        }
      },
    });
    new Gauge({
      name: 'detour_manager_agents',
      help: 'Agents connected (watching their rule set), by service.',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const service of state.services()) this.set({ service: service.name }, service.agents.length);
      },
    });
    new Gauge({
      name: 'detour_manager_rule_set_version',
      help: 'Current rule-set version of each service (what its agents must acknowledge).',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const service of state.services()) this.set({ service: service.name }, state.ruleSet(service.name).version);
      },
    });
    this.#push = new Histogram({
      name: 'detour_manager_rule_push_duration_seconds',
      help: 'Time from pushing a rule set to the last acknowledgement by the agents of its service.',
      buckets: PUSH_BUCKETS_SECONDS,
      registers,
    });
    this.#api = new Counter({
      name: 'detour_manager_api_requests_total',
      help: 'API calls answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
  }

  /** One API call answered; `route` is a route pattern (bounded), never the request's own path. */
  apiRequest(method: string, route: string, status: number): void {
    this.#api.inc({ method, route, status: String(status) });
  }

  pushAcked(seconds: number): void {
    this.#push.observe(seconds);
  }

  /** Adds prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC). */
  enableDefaultMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }
}
