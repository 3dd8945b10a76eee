import { DetourError } from '@detour/core';
import type { ManagerState } from './state.js';

/** Where an agent's rule sets are written: one NDJSON line each. */
export interface RuleSink {
  write(line: string): void;
}

/** A rule set pushed to the agents of its service, until the last of them acknowledged it. */
interface PendingPush {
  service: string;
  version: number;
  /** `performance.now()` at the push. */
  pushedAt: number;
}

/** Pushes no agent ever acknowledges (a hung agent that stays connected) must not pile up: the oldest are forgotten. */
const MAX_PENDING_PUSHES = 1024;

interface AckWaiter {
  service: string;
  version: number;
  resolve: () => void;
}

/**
 * Pushes rule sets to the agents of each service and tells when all of them
 * have acknowledged one. `detour intercept` returns only then, so that a request
 * sent the moment it returns is already routed (issue #2, "routing at the moment
 * it returns").
 */
export class AgentHub {
  readonly #state: ManagerState;
  readonly #sinks = new Map<string, { service: string; sink: RuleSink }>();
  readonly #waiters = new Set<AckWaiter>();
  readonly #pushes = new Set<PendingPush>();
  readonly #onPushAcked: (seconds: number) => void;

  /** `onPushAcked` learns how long each push took to be acknowledged by every agent of its service (the push latency metric). */
  constructor(state: ManagerState, onPushAcked: (seconds: number) => void = () => undefined) {
    this.#state = state;
    this.#onPushAcked = onPushAcked;
  }

  attach(agentId: string, service: string, sink: RuleSink): void {
    this.#sinks.set(agentId, { service, sink });
    sink.write(`${JSON.stringify(this.#state.ruleSet(service))}\n`);
  }

  /** Forgets an agent, unless it has already re-attached with a newer stream. */
  detach(agentId: string, sink: RuleSink): void {
    if (this.#sinks.get(agentId)?.sink !== sink) return;
    this.#sinks.delete(agentId);
    this.#state.removeAgent(agentId);
    this.#settle();
  }

  acknowledge(agentId: string, version: number): boolean {
    const known = this.#state.ackAgent(agentId, version) !== undefined;
    this.#settle();
    return known;
  }

  /** Sends the current rule set of each service to its agents. */
  push(services: Iterable<string>): void {
    for (const service of services) {
      const ruleSet = this.#state.ruleSet(service);
      const line = `${JSON.stringify(ruleSet)}\n`;
      let sent = false;
      for (const entry of this.#sinks.values()) {
        if (entry.service !== service) continue;
        entry.sink.write(line);
        sent = true;
      }
      if (sent) this.#pending({ service, version: ruleSet.version, pushedAt: performance.now() });
    }
  }

  /** Writes one line to every agent's watch stream; returns the agents it went to. */
  broadcast(line: string): Array<{ agentId: string; service: string }> {
    const sent: Array<{ agentId: string; service: string }> = [];
    for (const [agentId, entry] of this.#sinks) {
      entry.sink.write(line);
      sent.push({ agentId, service: entry.service });
    }
    return sent;
  }

  /** Resolves once every agent of `service` connected now has acknowledged `version` or left. */
  async waitForAcks(service: string, version: number, timeoutMs: number): Promise<void> {
    if (this.#allAcked(service, version)) return;
    let waiter: AckWaiter | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        waiter = { service, version, resolve };
        this.#waiters.add(waiter);
        timer = setTimeout(() => {
          const slow = this.#state.agentsOf(service).filter((a) => a.ackedVersion < version).map((a) => a.id);
          reject(
            new DetourError('DETOUR_ERR_INTERCEPT_ACK_TIMEOUT', `agents of ${service} did not acknowledge the rule within ${timeoutMs} ms (${slow.join(', ')}); nothing was created: check those agents' logs and their link to the manager, then retry`, {
              details: { agents: slow },
            }),
          );
        }, timeoutMs);
        timer.unref();
      });
    } finally {
      clearTimeout(timer);
      if (waiter !== undefined) this.#waiters.delete(waiter);
    }
  }

  #allAcked(service: string, version: number): boolean {
    return this.#state.agentsOf(service).every((a) => a.ackedVersion >= version);
  }

  #pending(push: PendingPush): void {
    this.#pushes.add(push);
    if (this.#pushes.size > MAX_PENDING_PUSHES) this.#pushes.delete(this.#pushes.values().next().value!);
  }

  #settle(): void {
    for (const push of this.#pushes) {
      // A service whose agents all left acknowledged nothing: no latency to report.
      if (this.#state.agentsOf(push.service).length === 0) this.#pushes.delete(push);
      else if (this.#allAcked(push.service, push.version)) {
        this.#pushes.delete(push);
        this.#onPushAcked((performance.now() - push.pushedAt) / 1e3);
      }
    }
    for (const waiter of [...this.#waiters]) {
      if (this.#allAcked(waiter.service, waiter.version)) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}
