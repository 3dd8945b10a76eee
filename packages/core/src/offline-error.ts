import type { Intercept } from '@detour/protocol';
import { DetourError } from './errors.js';

/**
 * The error for a request whose intercept's developer is not connected: the
 * one wording of the agent's `503` (policy `fail`) and of the manager's relay
 * refusal, so that a caller reads the same sentence whichever hop noticed.
 */
export function interceptOfflineError(intercept: Pick<Intercept, 'id' | 'name' | 'service' | 'owner'>): DetourError {
  const { id, name, service, owner } = intercept;
  return new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `intercept ${name} on ${service} is offline: its developer ${owner.name} is not connected`, {
    details: { intercept: id, name, owner: owner.name },
  });
}
