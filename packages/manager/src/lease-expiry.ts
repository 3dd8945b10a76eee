import type { Logger } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import type { AgentWatch } from './agent-watch.js';
import type { AuditLog } from './auth/audit-log.js';
import type { AuthSource } from './auth/auth-source.js';
import type { ManagerState } from './state.js';
import type { Tunnels } from './tunnels.js';

interface ExpiryContext {
  state: ManagerState;
  hub: AgentHub;
  tunnels: Tunnels;
  watches: AgentWatch;
  logger: Logger;
  auth: AuthSource;
  audit: AuditLog;
  previews: { prune(): number };
}

/**
 * Ends the sessions and agent links of identities that were revoked or have
 * expired (issue 13: revocation takes effect for an open session within a lease;
 * a reload calls this at once, the expiry loop below catches tokens that expire).
 */
export function endRevoked(context: ExpiryContext, now: number = Date.now()): void {
  const { book } = context.auth;
  if (book.mode === 'single-token') return;
  const keep = (name: string) => book.holds(name, now);
  const { ended, changed } = context.state.endSessionsUnless(keep);
  for (const session of ended) {
    context.tunnels.drop(session.id);
    context.logger.info({ sessionId: session.id, name: session.name }, 'session ended: its identity was revoked or expired');
    context.audit.record({ name: session.name }, { action: 'session.end', from: 'manager', details: { sessionId: session.id, reason: 'identity revoked or expired' } });
  }
  const agents = context.watches.dropUnless(keep);
  if (agents > 0) context.logger.info({ agents }, 'agent links closed: their identity was revoked or expired');
  context.hub.push(changed);
}

/**
 * Ends the sessions whose lease ran out (no heartbeat within `leaseMs`), drops
 * their tunnels and pushes the rule sets that lost their intercepts. The check
 * runs four times per lease, so a session outlives its lease by at most a
 * quarter of it (and by at most 1 s). It also ends what expired identities hold, and
 * drops expired previews.
 */
export function startLeaseExpiry(options: ExpiryContext): { stop(): void } {
  const { state, hub, tunnels, logger, audit, previews } = options;
  const timer = setInterval(() => {
    endRevoked(options);
    const { expired, abandoned, changed } = state.expireSessions();
    for (const session of expired) {
      tunnels.drop(session.id);
      logger.info({ sessionId: session.id, name: session.name }, 'session lease expired; its intercepts were removed');
      audit.record({ name: session.name }, { action: 'session.end', from: 'manager', details: { sessionId: session.id, reason: 'lease expired' } });
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
