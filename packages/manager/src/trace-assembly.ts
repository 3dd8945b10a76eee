import type { Sighting, TraceHop, TraceResult } from '@detour/protocol';

/** What the manager knows about a finished probe, as plain data. */
export interface TraceInput {
  id: string;
  service: string;
  path: string;
  header: string;
  value: string;
  probeStatus: number;
  sightings: readonly Sighting[];
}

/**
 * Turns what the agents saw into the chain of services the probe reached.
 *
 * - A sighting with evidence `header` is a hop that kept the header.
 * - One with `traceparent` lost the header but is certainly part of the probe
 *   (W3C Trace Context §3.2.2.3: every hop keeps the trace-id of the probe's `traceparent`).
 * - One with `none` is part of the probe only if it started while a hop that
 *   still had the header was between forwarding the probe and finishing its
 *   response (that hop's app must have called it), at another service, and at
 *   a service never seen with the header (there it is more likely someone
 *   else's traffic). The innermost such window names the service that dropped it.
 *
 * Each service appears once, at its first sighting; hops are in the order they
 * started. Agent clocks are compared with each other, so hosts must be in NTP sync.
 */
export function assembleTrace(input: TraceInput): TraceResult {
  const carried = input.sightings.filter((s) => s.evidence === 'header');
  const carriedServices = new Set(carried.map((s) => s.service));
  const hops: TraceHop[] = [];
  const seen = new Set<string>();
  const add = (hop: TraceHop) => {
    if (seen.has(hop.service)) return;
    seen.add(hop.service);
    hops.push(hop);
  };
  const candidates = [...input.sightings].sort((a, b) => a.startedAt - b.startedAt);
  for (const s of candidates) {
    if (s.evidence === 'header') {
      add({ service: s.service, agentId: s.agentId, path: s.path, headerSeen: true, evidence: 'header', startedAt: s.startedAt });
      continue;
    }
    if (s.evidence === 'none' && carriedServices.has(s.service)) continue;
    const caller = innermostCaller(carried, s);
    if (s.evidence === 'none' && caller === undefined) continue;
    add({
      service: s.service,
      agentId: s.agentId,
      path: s.path,
      headerSeen: false,
      evidence: s.evidence,
      ...(caller === undefined ? {} : { droppedBy: caller.service }),
      startedAt: s.startedAt,
    });
  }
  hops.sort((a, b) => a.startedAt - b.startedAt);
  const outcome = hops.some((h) => !h.headerSeen) ? 'dropped' : hops.length > 1 ? 'propagated' : 'first-hop-only';
  return { id: input.id, service: input.service, path: input.path, header: input.header, value: input.value, outcome, probeStatus: input.probeStatus, hops };
}

/**
 * The hop that still had the header and was processing when `lost` started:
 * the latest-started window containing it. For a `traceparent` sighting outside
 * every window (clock skew), the latest hop that started before it.
 */
function innermostCaller(carried: readonly Sighting[], lost: Sighting): Sighting | undefined {
  let best: Sighting | undefined;
  for (const c of carried) {
    if (c.agentId === lost.agentId || c.startedAt > lost.startedAt) continue;
    const inWindow = lost.startedAt <= c.endedAt;
    if (!inWindow && lost.evidence !== 'traceparent') continue;
    if (best === undefined || c.startedAt > best.startedAt) best = c;
  }
  return best;
}
