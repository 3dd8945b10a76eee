import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Probe, Sighting, TraceRequest, TraceResult } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import type { ManagerState } from './state.js';
import { assembleTrace } from './trace-assembly.js';

/** Tunables of `detour trace`, with units. */
export const TRACE_DEFAULTS = {
  /** The whole trace, from the first push of the probe to the answer. */
  deadlineMs: 10_000,
  /** How long agents get to install the probe before it is sent; a slow agent only misses reporting. */
  ackWaitMs: 3_000,
  /**
   * After the traced agent's own sighting arrived (its exchange is the outermost,
   * so it ends last), reports of inner hops sent on other agents' connections
   * may still be in flight; they are collected for this long.
   */
  settleMs: 300,
  maxSightingsPerTrace: 1_000,
  /** Matches RuleSetSchema's cap on `probes`. */
  maxConcurrent: 16,
} as const;

interface ActiveTrace {
  readonly probe: Probe;
  readonly firstAgentId: string;
  readonly sightings: Sighting[];
  /** Resolves when the traced agent reported the probe request itself. */
  readonly firstSeen: Promise<void>;
  markFirstSeen(): void;
}

/** Traces in progress and what agents reported for each: plain data, no I/O. */
export class TraceBook {
  readonly #active = new Map<string, ActiveTrace>();

  get size(): number {
    return this.#active.size;
  }

  open(probe: Probe, firstAgentId: string): ActiveTrace {
    let markFirstSeen!: () => void;
    const firstSeen = new Promise<void>((resolve) => (markFirstSeen = resolve));
    const trace: ActiveTrace = { probe, firstAgentId, sightings: [], firstSeen, markFirstSeen };
    this.#active.set(probe.id, trace);
    return trace;
  }

  /** Adds an agent's report; reports for a finished or unknown trace are refused. */
  record(traceId: string, sighting: Sighting): void {
    const trace = this.#active.get(traceId);
    if (trace === undefined) throw new DetourError('DETOUR_ERR_TRACE_NOT_FOUND', `no active trace ${traceId}`);
    if (trace.sightings.length >= TRACE_DEFAULTS.maxSightingsPerTrace) return;
    trace.sightings.push(sighting);
    if (sighting.agentId === trace.firstAgentId && sighting.evidence === 'header') trace.markFirstSeen();
  }

  close(traceId: string): void {
    this.#active.delete(traceId);
  }
}

export interface TraceContext {
  state: ManagerState;
  hub: AgentHub;
  traces: TraceBook;
  logger: Logger;
}

/**
 * Runs one probe: tells every agent to watch for it (through the rule-set
 * stream), sends a request carrying the probe header and a fresh `traceparent`
 * to one agent of the service, waits for the reports, and assembles the chain.
 */
export async function runTrace(context: TraceContext, request: TraceRequest, options: Partial<typeof TRACE_DEFAULTS> = {}): Promise<TraceResult> {
  const tunables = { ...TRACE_DEFAULTS, ...options };
  const { state, hub, traces, logger } = context;
  const agents = state.agentsOf(request.service);
  if (agents.length === 0) {
    const known = [...state.knownServices()].sort();
    if (state.services().some((s) => s.name === request.service)) {
      throw new DetourError('DETOUR_ERR_TRACE_NO_AGENTS', `${request.service} has no connected agent to send the probe to; known services with agents: ${known.join(', ') || '(none)'}`);
    }
    throw new DetourError('DETOUR_ERR_TRACE_UNKNOWN_SERVICE', `no agent serves ${request.service}; known services: ${known.length === 0 ? '(none)' : known.join(', ')}`, {
      details: { service: request.service, known },
    });
  }
  if (traces.size >= tunables.maxConcurrent) throw new DetourError('DETOUR_ERR_TRACE_BUSY', `${traces.size} traces are running; retry when one has finished`);

  const deadline = Date.now() + tunables.deadlineMs;
  const agent = agents[Math.floor(Math.random() * agents.length)]!;
  const probe: Probe = {
    id: randomUUID(),
    header: request.header,
    value: request.value ?? `detour-probe-${randomBytes(6).toString('hex')}`,
    traceId: randomBytes(16).toString('hex'),
    until: deadline,
  };
  const trace = traces.open(probe, agent.id);
  const log = logger.child({ traceId: probe.id, service: request.service });
  try {
    const changed = state.addProbe(probe);
    hub.push(changed);
    await Promise.all(
      [...changed].map((service) =>
        hub.waitForAcks(service, state.ruleSet(service).version, Math.min(tunables.ackWaitMs, deadline - Date.now())).catch((err: Error) => {
          log.warn({ err: err.message }, 'an agent did not install the probe in time; it will not report');
        }),
      ),
    );
    // W3C Trace Context §3.2: version 00, a fresh trace-id and parent-id, sampled.
    const traceparent = `00-${probe.traceId}-${randomBytes(8).toString('hex')}-01`;
    const probeStatus = await sendProbe(agent.listen, request.path, { [probe.header]: probe.value, traceparent }, deadline - Date.now());
    const reported = await Promise.race([trace.firstSeen.then(() => true), delay(Math.max(0, deadline - Date.now()), false, { ref: false })]);
    if (!reported) {
      throw new DetourError('DETOUR_ERR_TRACE_TIMEOUT', `agent ${agent.id} of ${request.service} answered the probe but did not report it within ${tunables.deadlineMs} ms`);
    }
    await delay(tunables.settleMs, undefined, { ref: false });
    const result = assembleTrace({ id: probe.id, service: request.service, path: request.path, header: probe.header, value: probe.value, probeStatus, sightings: trace.sightings });
    log.info({ outcome: result.outcome, hops: result.hops.length }, 'trace finished');
    return result;
  } finally {
    traces.close(probe.id);
    hub.push(state.removeProbe(probe.id));
  }
}

/** Sends the probe request to an agent's listen address and reads the whole answer; resolves with its status. */
function sendProbe(listen: string, path: string, headers: Record<string, string>, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const signal = AbortSignal.timeout(Math.max(1, timeoutMs));
    const fail = (err: Error) =>
      reject(
        signal.aborted
          ? new DetourError('DETOUR_ERR_TRACE_TIMEOUT', `the probe to ${listen}${path} got no complete answer within the deadline`, { cause: err })
          : new DetourError('DETOUR_ERR_TRACE_AGENT_UNREACHABLE', `cannot send the probe to the agent at ${listen}: ${err.message}`, { cause: err }),
      );
    const req = http.request(`http://${listen}${path}`, { method: 'GET', headers: { ...headers, 'user-agent': 'detour-trace' }, agent: false, signal }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', fail);
    });
    req.once('error', fail);
    req.end();
  });
}
