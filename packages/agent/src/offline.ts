import type { Intercept } from '@detour/protocol';

/** The 503 an agent answers for an intercept whose developer is not connected and whose policy is `fail`. */
export function offlineError(intercept: Intercept, service: string): { message: string; details: Record<string, unknown> } {
  return {
    message: `intercept ${intercept.name} on ${service} is offline: its developer ${intercept.owner.name} is not connected`,
    details: { intercept: intercept.id, name: intercept.name, owner: intercept.owner.name },
  };
}
