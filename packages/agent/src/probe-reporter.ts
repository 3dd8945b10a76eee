import { targetPath } from '@detour/core';
import type { RequestHead } from '@detour/core';
import type { Probe, Sighting, SightingEvidence } from '@detour/protocol';
import { API_PATHS } from '@detour/protocol';

/** W3C Trace Context §3.2: `version-traceid-parentid-flags`; the trace id is the second field. */
const TRACEPARENT = 'traceparent';
const TRACE_ID = /^[0-9a-f]{2}-([0-9a-f]{32})-/;

/**
 * Header-less requests reported per probe and agent. During a probe, a busy
 * agent sees others' traffic too; the manager only needs the few that started
 * while an upstream hop was processing the probe, so the rest is cut off.
 */
const MAX_UNTAGGED_PER_PROBE = 100;

/** Where sightings go: the manager link's session. */
export interface SightingSink {
  post(path: string, body: unknown): void;
}

/** A request seen during a probe; its report is sent when its exchange ends, with both times. */
export interface PendingSighting {
  end(): void;
}

/**
 * Reports, while `detour trace` runs, the requests this agent sees to the
 * manager (see the manager's trace.ts for how they become a chain). Lives as
 * long as the agent; each rule set with probes gets a {@link ProbeWatch} from it.
 */
export class ProbeReporter {
  readonly #service: string;
  readonly #agentId: string;
  readonly #sink: SightingSink;
  /** Untagged requests reported per probe id; entries go when their probe leaves the rule set. */
  readonly #untagged = new Map<string, number>();

  constructor(service: string, agentId: string, sink: SightingSink) {
    this.#service = service;
    this.#agentId = agentId;
    this.#sink = sink;
  }

  /** The watch for a rule set's probes, or undefined when there are none (then the request path does no probe work). */
  watch(probes: readonly Probe[] | undefined): ProbeWatch | undefined {
    for (const id of this.#untagged.keys()) {
      if (probes?.some((p) => p.id === id) !== true) this.#untagged.delete(id);
    }
    return probes === undefined || probes.length === 0 ? undefined : new ProbeWatch(probes, this);
  }

  /** Counts an untagged sighting of `probeId`; false once the cap is reached. */
  allowUntagged(probeId: string): boolean {
    const count = this.#untagged.get(probeId) ?? 0;
    if (count >= MAX_UNTAGGED_PER_PROBE) return false;
    this.#untagged.set(probeId, count + 1);
    return true;
  }

  send(probeId: string, evidence: SightingEvidence, path: string, startedAt: number): void {
    const sighting: Sighting = { agentId: this.#agentId, service: this.#service, path, evidence, startedAt, endedAt: Date.now() };
    this.#sink.post(API_PATHS.traceSightings(probeId), sighting);
  }
}

/** The probes of one rule set: which headers the parser must capture, and how a request relates to each probe. */
export class ProbeWatch {
  /** Header names to capture while these probes run. */
  readonly headerNames: readonly string[];
  readonly #probes: readonly Probe[];
  readonly #reporter: ProbeReporter;

  constructor(probes: readonly Probe[], reporter: ProbeReporter) {
    this.#probes = probes;
    this.#reporter = reporter;
    this.headerNames = [...new Set([...probes.map((p) => p.header), TRACEPARENT])];
  }

  /** Called once per HTTP/1.1 request head while probes are active; the result's `end()` sends the reports. */
  observe(head: RequestHead): PendingSighting | undefined {
    const captured = head.captured;
    return this.#observe(head.target, (name) => captured?.get(name));
  }

  /**
   * The same for an HTTP/2 (gRPC) stream, from node's raw field list
   * `[name, value, …]` (names lower case, RFC 9113 §8.2.1); the caller ends
   * the sighting when the stream closes.
   */
  observeStream(path: string, rawHeaders: readonly string[]): PendingSighting | undefined {
    return this.#observe(path, (name) => {
      let values: string[] | undefined;
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i] === name) (values ??= []).push(rawHeaders[i + 1]!);
      return values;
    });
  }

  #observe(target: string, valuesOf: (name: string) => readonly string[] | undefined): PendingSighting | undefined {
    const now = Date.now();
    const traceId = TRACE_ID.exec(valuesOf(TRACEPARENT)?.[0] ?? '')?.[1];
    const reports: Array<{ probeId: string; evidence: SightingEvidence }> = [];
    for (const probe of this.#probes) {
      if (now > probe.until) continue;
      if (valuesOf(probe.header)?.includes(probe.value) === true) reports.push({ probeId: probe.id, evidence: 'header' });
      else if (traceId === probe.traceId) reports.push({ probeId: probe.id, evidence: 'traceparent' });
      else if (this.#reporter.allowUntagged(probe.id)) reports.push({ probeId: probe.id, evidence: 'none' });
    }
    if (reports.length === 0) return undefined;
    const path = targetPath(target);
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        for (const report of reports) this.#reporter.send(report.probeId, report.evidence, path, now);
      },
    };
  }
}
