import { randomUUID } from 'node:crypto';
import type { RecentLogs } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { LogRing } from '@detour/core';
import type { AgentHub } from './agent-hub.js';

export const LOG_COLLECTION_DEFAULTS = {
  /** How long the manager waits for agents' lines; a stopped or slow agent is then listed as missing. */
  agentDeadlineMs: 2_000,
} as const;

interface PendingCollection {
  /** agent id → service, of the agents asked. */
  readonly asked: Map<string, string>;
  readonly received: Map<string, string>;
  readonly allIn: () => void;
}

/**
 * Collects recent log lines for `detour gather-logs`. The manager cannot dial an
 * agent (agents dial it), so it asks on what it already has towards each agent:
 * the watch stream gets one `logsRequest` line, and the agent posts its lines
 * back on its own session, as it posts acks and trace sightings. Whatever has
 * not arrived by the deadline is reported missing; nothing waits longer.
 */
export class LogCollection {
  readonly #ring: LogRing | undefined;
  readonly #deadlineMs: number;
  readonly #pending = new Map<string, PendingCollection>();

  constructor(options: { ring?: LogRing | undefined; agentDeadlineMs?: number | undefined } = {}) {
    this.#ring = options.ring;
    this.#deadlineMs = options.agentDeadlineMs ?? LOG_COLLECTION_DEFAULTS.agentDeadlineMs;
  }

  /** The manager's own recent lines (empty when it keeps no ring, e.g. embedded in a test). */
  managerLog(): string {
    return this.#ring?.text() ?? '';
  }

  /** Asks every connected agent for its lines; resolves when all answered or the deadline passed. */
  async collectAgents(hub: AgentHub): Promise<Pick<RecentLogs, 'agents' | 'missing'>> {
    const id = randomUUID();
    let allIn!: () => void;
    const answered = new Promise<void>((resolve) => (allIn = resolve));
    const pending: PendingCollection = { asked: new Map(), received: new Map(), allIn };
    this.#pending.set(id, pending);
    let timer: NodeJS.Timeout | undefined;
    try {
      for (const agent of hub.broadcast(`${JSON.stringify({ logsRequest: { id } })}\n`)) pending.asked.set(agent.agentId, agent.service);
      const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#deadlineMs)));
      if (pending.asked.size > 0) await Promise.race([answered, expired]);
    } finally {
      clearTimeout(timer);
      this.#pending.delete(id);
    }
    const agents: RecentLogs['agents'] = [];
    const missing: RecentLogs['missing'] = [];
    for (const [agentId, service] of pending.asked) {
      const log = pending.received.get(agentId);
      if (log === undefined) missing.push({ agentId, service, reason: `no answer within ${this.#deadlineMs} ms` });
      else agents.push({ agentId, service, log });
    }
    return { agents, missing };
  }

  /** An agent's answer; refused when the collection has ended (deadline passed) or never asked that agent. */
  record(requestId: string, agentId: string, log: string): void {
    const pending = this.#pending.get(requestId);
    if (pending === undefined || !pending.asked.has(agentId)) {
      throw new DetourError('DETOUR_ERR_LOGS_NOT_FOUND', `no log collection ${requestId} waits for agent ${agentId}`);
    }
    pending.received.set(agentId, log);
    if (pending.received.size === pending.asked.size) pending.allIn();
  }
}
