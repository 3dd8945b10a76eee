import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { ErrorCode } from '@detour/protocol';
import type { RouteKind } from './diagnostics.js';
import type { Route, RouteObserver } from './router.js';

/**
 * Latency bucket bounds in seconds: sub-millisecond (an unmatched request on
 * loopback takes ~0.1 ms) up to 10 s (a slow app or a developer stepping
 * through a breakpoint). Prometheus' defaults start at 5 ms, which would put
 * every unmatched request in the first bucket.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** The codes of requests the agent's parser refuses before any routing: 400, 408 and 431. */
const REJECTION_CODES = ['DETOUR_ERR_AGENT_BAD_REQUEST', 'DETOUR_ERR_AGENT_HEAD_TIMEOUT', 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE'] as const satisfies readonly ErrorCode[];
type RejectionCode = (typeof REJECTION_CODES)[number];

/**
 * One latency distribution as plain numbers. prom-client's own
 * `Histogram.observe` costs about 0.5 µs even through a bound child (it
 * allocates, re-hashes the labels and keys buckets by stringified bounds),
 * which is measurable against a ~20 µs unmatched request; this costs a short
 * bucket search and three additions. prom-client formats it at scrape time.
 */
export class LatencyRecorder {
  /** Per-bucket (not cumulative) counts; the last slot is above the largest bound (`+Inf`). */
  readonly counts: number[] = new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    const bounds = LATENCY_BUCKETS_SECONDS;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += seconds;
    this.count += 1;
  }
}

/** What the agent's gauges read at scrape time, so that they cost nothing in between. */
export interface AgentMetricSources {
  openConnections(): Promise<number>;
  managerConnected(): boolean;
  ruleSetVersion(): number;
}

/**
 * The agent's metrics. The hot path only adds to plain numbers (a route count,
 * a latency bucket); prom-client reads them when scraped. The registry is the
 * agent's own, not prom-client's global one, so that several agents in one
 * process (tests) keep their counts apart.
 */
export class AgentMetrics implements RouteObserver {
  readonly registry = new Registry();
  /** Requests forwarded to the app (unmatched and `fallback`), from routing decision to the last response byte. */
  readonly toApp = new LatencyRecorder();
  /** Requests relayed through the manager to a developer's laptop, likewise. */
  readonly toDeveloper = new LatencyRecorder();
  readonly #routed: Record<RouteKind, number> = { app: 0, intercept: 0, fallback: 0, offline: 0 };
  readonly #refused: Record<RouteKind, number> = { app: 0, intercept: 0, fallback: 0, offline: 0 };
  readonly #rejected = Object.fromEntries(REJECTION_CODES.map((code) => [code, 0])) as Record<RejectionCode, number>;
  #defaultsOn = false;

  constructor(sources: AgentMetricSources) {
    const registers = [this.registry];
    const routed = this.#routed;
    const refused = this.#refused;
    const rejected = this.#rejected;
    new Counter({
      name: 'detour_agent_requests_total',
      help: 'Routing decisions: HTTP/1.1 requests, HTTP/2 streams and raw TCP connections, by route (app, intercept, fallback, offline).',
      labelNames: ['route'],
      registers,
      collect() {
        copyCounts(this, 'route', routed);
      },
    });
    new Counter({
      name: 'detour_agent_relay_refusals_total',
      help: 'Requests routed to a developer whose relay refused before any byte left (developer gone), by the offline policy applied.',
      labelNames: ['route'],
      registers,
      collect() {
        copyCounts(this, 'route', { fallback: refused.fallback, offline: refused.offline });
      },
    });
    new Counter({
      name: 'detour_agent_rejected_requests_total',
      help: "Requests the agent's parser refused before routing (400 malformed, 408 head timeout, 431 head too large), by error code.",
      labelNames: ['code'],
      registers,
      collect() {
        copyCounts(this, 'code', rejected);
      },
    });
    new Gauge({
      name: 'detour_agent_open_connections',
      help: 'Client connections open on the traffic port, every protocol.',
      registers,
      async collect() {
        this.set(await sources.openConnections());
      },
    });
    new Gauge({
      name: 'detour_agent_manager_connected',
      help: '1 while the link to the manager is up (intercepts can be relayed), else 0.',
      registers,
      collect() {
        this.set(sources.managerConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'detour_agent_rule_set_version',
      help: 'Version of the rule set the agent routes by (-1 before the first one arrived).',
      registers,
      collect() {
        this.set(sources.ruleSetVersion());
      },
    });
    this.registry.registerMetric(
      recordedHistogram('detour_agent_request_duration_seconds', 'Forwarded requests, from the routing decision to the last response byte, by destination (app, developer).', 'destination', {
        app: this.toApp,
        developer: this.toDeveloper,
      }),
    );
  }

  routed(route: Route): void {
    this.#routed[route.kind] += 1;
  }

  refused(route: Route): void {
    this.#refused[route.kind] += 1;
  }

  /** Counts a request the agent answered with `code`, if that is one of the parser's refusals. */
  rejected(code: ErrorCode): void {
    if (Object.hasOwn(this.#rejected, code)) this.#rejected[code as RejectionCode] += 1;
  }

  /** Adds prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC): only when someone scrapes. */
  enableDefaultMetrics(): void {
    if (this.#defaultsOn) return;
    this.#defaultsOn = true;
    collectDefaultMetrics({ register: this.registry });
  }
}

/** Sets a counter's series to the plain counts, one per label value (zeros included, so `rate()` sees them from the start). */
function copyCounts<L extends string>(counter: Counter<L>, label: L, counts: Readonly<Record<string, number>>): void {
  counter.reset();
  for (const [value, count] of Object.entries(counts)) counter.inc({ [label]: value } as Record<L, string>, count);
}

/** One exported sample, in the shape prom-client's registry formats (`MetricValueWithName` in its typings). */
interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * A histogram metric over {@link LatencyRecorder}s, one series per label
 * value, for prom-client's registry: it formats whatever `get()` returns in
 * the shape its own histograms return (bucket samples cumulative, `+Inf`,
 * `_sum`, `_count`).
 */
function recordedHistogram(name: string, help: string, label: string, series: Record<string, LatencyRecorder>): Metric {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    reset: () => undefined,
    get: async () => {
      const values: Sample[] = [];
      for (const [value, recorder] of Object.entries(series)) {
        let cumulative = 0;
        LATENCY_BUCKETS_SECONDS.forEach((bound, i) => {
          cumulative += recorder.counts[i]!;
          values.push({ value: cumulative, labels: { [label]: value, le: bound }, metricName: `${name}_bucket` });
        });
        values.push({ value: recorder.count, labels: { [label]: value, le: '+Inf' }, metricName: `${name}_bucket` });
        values.push({ value: recorder.sum, labels: { [label]: value }, metricName: `${name}_sum` });
        values.push({ value: recorder.count, labels: { [label]: value }, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  // The registry needs only name, get() and reset(); prom-client types a registrable metric as one of its own classes.
  return metric as unknown as Metric;
}
