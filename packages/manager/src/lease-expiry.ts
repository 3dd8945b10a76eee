import type { Logger } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import type { ManagerState } from './state.js';
import type { Tunnels } from './tunnels.js';

/**
 * Ends the sessions whose lease ran out (no heartbeat within `leaseMs`), drops
 * their tunnels and pushes the rule sets that lost their intercepts. The check
 * runs four times per lease, so a session outlives its lease by at most a
 * quarter of it (and by at most 1 s). Expired previews are dropped on the same tick.
 */
export function startLeaseExpiry(options: { state: ManagerState; hub: AgentHub; tunnels: Tunnels; logger: Logger; previews: { prune(): number } }): { stop(): void } {
  const { state, hub, tunnels, logger, previews } = options;
  const timer = setInterval(() => {
    const { expired, abandoned, changed } = state.expireSessions();
    for (const session of expired) {
      tunnels.drop(session.id);
      logger.info({ sessionId: session.id, name: session.name }, 'session lease expired; its intercepts were removed');
    }
    for (const intercept of abandoned) {
      logger.info({ interceptId: intercept.id, owner: intercept.owner.name }, 'restored intercept removed: its daemon did not re-assert it within a lease of the restart');
    }
    hub.push(changed);
    // Expired previews are refused at lookup already; this only lets the store forget them.
    previews.prune();
  }, Math.max(50, Math.min(1000, Math.floor(state.leaseMs / 4))));
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
