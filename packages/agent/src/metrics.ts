import type { Registry } from 'prom-client';
import { LatencyRecorder } from './latency-recorder.js';
import type { AgentMetricSources, AgentMetricsView } from './metrics-registry.js';
import type { ErrorCode } from '@detour/protocol';
import type { RouteKind } from './diagnostics.js';
import type { Route, RouteObserver } from './router.js';

/** The codes of requests the agent's parser refuses before any routing: 400, 408 and 431. */
const REJECTION_CODES = ['DETOUR_ERR_AGENT_BAD_REQUEST', 'DETOUR_ERR_AGENT_HEAD_TIMEOUT', 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE'] as const satisfies readonly ErrorCode[];
type RejectionCode = (typeof REJECTION_CODES)[number];

/**
 * The agent's metrics. The hot path only adds to plain numbers (a route count,
 * a latency bucket); prom-client reads them when scraped. prom-client itself
 * (about 8 MiB of resident memory) is loaded on the first scrape or when the
 * listener starts, never by an agent nobody scrapes. The registry is the
 * agent's own, not prom-client's global one, so that several agents in one
 * process (tests) keep their counts apart.
 */
export class AgentMetrics implements RouteObserver, AgentMetricsView {
  /** Requests forwarded to the app (unmatched and `fallback`), from routing decision to the last response byte. */
  readonly toApp = new LatencyRecorder();
  /** Requests relayed through the manager to a developer's laptop, likewise. */
  readonly toDeveloper = new LatencyRecorder();
  readonly routedCounts: Record<RouteKind, number> = { app: 0, intercept: 0, fallback: 0, offline: 0, hold: 0 };
  readonly refusedCounts: Record<RouteKind, number> = { app: 0, intercept: 0, fallback: 0, offline: 0, hold: 0 };
  /** Matched requests the laptop answered with a `--fallthrough-status`, replayed to the app. */
  fellThrough = 0;
  /** `--mode wiretap` copies sent and dropped (set by the agent to its sender's counts). */
  wiretapCounts: Readonly<Record<'sent' | 'dropped', number>> = { sent: 0, dropped: 0 };
  readonly rejectedCounts = Object.fromEntries(REJECTION_CODES.map((code) => [code, 0])) as Record<RejectionCode, number>;
  readonly sources: AgentMetricSources;
  #registry: Promise<Registry> | undefined;

  constructor(sources: AgentMetricSources) {
    this.sources = sources;
  }

  routed(route: Route): void {
    this.routedCounts[route.kind] += 1;
  }

  refused(route: Route): void {
    this.refusedCounts[route.kind] += 1;
  }

  /** Counts a request the agent answered with `code`, if that is one of the parser's refusals. */
  rejected(code: ErrorCode): void {
    if (Object.hasOwn(this.rejectedCounts, code)) this.rejectedCounts[code as RejectionCode] += 1;
  }

  /**
   * The prom-client registry over these numbers, created on first use.
   * `processMetrics` adds prom-client's process and Node.js metrics (CPU,
   * memory, event-loop lag, GC) if this call creates it: the listener asks.
   */
  registry(processMetrics = false): Promise<Registry> {
    this.#registry ??= import('./metrics-registry.js').then(({ createAgentRegistry }) => createAgentRegistry(this, processMetrics));
    return this.#registry;
  }
}

