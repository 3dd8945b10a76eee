import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { RouteKind } from './diagnostics.js';
import { LATENCY_BUCKETS_SECONDS } from './latency-recorder.js';
import type { LatencyRecorder } from './latency-recorder.js';

// prom-client's side of the agent's metrics, imported only once someone scrapes (see AgentMetrics).

/** What the agent's gauges read at scrape time, so that they cost nothing in between. */
export interface AgentMetricSources {
  openConnections(): Promise<number>;
  managerConnected(): boolean;
  ruleSetVersion(): number;
  /** Values of signed headers not honoured (`--signed-keys`), by reason: the verifier's own counts. */
  routingKeyRejections(): Readonly<Record<string, number>>;
}

/** What the registry reads: the plain numbers `AgentMetrics` keeps, and the sources of its gauges. */
export interface AgentMetricsView {
  readonly sources: AgentMetricSources;
  readonly routedCounts: Readonly<Record<RouteKind, number>>;
  readonly refusedCounts: Readonly<Record<RouteKind, number>>;
  readonly rejectedCounts: Readonly<Record<string, number>>;
  readonly fellThrough: number;
  readonly wiretapCounts: Readonly<Record<string, number>>;
  readonly toApp: LatencyRecorder;
  readonly toDeveloper: LatencyRecorder;
}

/** Builds the registry of `AgentMetrics.registry()`: prom-client metrics whose `collect()` reads the plain numbers. */
export function createAgentRegistry(metrics: AgentMetricsView, processMetrics: boolean): Registry {
  const registry = new Registry();
  const registers = [registry];
  const { sources, routedCounts: routed, refusedCounts: refused, rejectedCounts: rejected } = metrics;
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
  new Counter({
    name: 'detour_agent_routing_keys_rejected_total',
    help: 'Values of a signed header (--signed-keys) that were not honoured and went to the app, by reason (unsigned, forged, expired).',
    labelNames: ['reason'],
    registers,
    collect() {
      copyCounts(this, 'reason', sources.routingKeyRejections());
    },
  });
  new Counter({
    name: 'detour_agent_fallthrough_total',
    help: 'Matched requests the laptop answered with one of their intercept\'s --fallthrough-status, replayed to the app.',
    registers,
    collect() {
      this.reset();
      this.inc(metrics.fellThrough);
    },
  });
  new Counter({
    name: 'detour_agent_wiretap_copies_total',
    help: 'Copies of requests for --mode wiretap intercepts, by outcome: sent (the laptop answered) or dropped (offline, slow, link down, body over the bound).',
    labelNames: ['outcome'],
    registers,
    collect() {
      copyCounts(this, 'outcome', metrics.wiretapCounts);
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
  registry.registerMetric(
    recordedHistogram('detour_agent_request_duration_seconds', 'Forwarded requests, from the routing decision to the last response byte, by destination (app, developer).', 'destination', {
      app: metrics.toApp,
      developer: metrics.toDeveloper,
    }),
  );
    if (processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
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
