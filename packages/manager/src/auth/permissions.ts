import type { InterceptRequest, Role } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { Identity } from './identities.js';

/**
 * What a route needs the caller's role to allow, declared by each route next to
 * its `auth` level (api-routes.ts) and checked by the gate (route-auth.ts).
 * An agent credential can only `serve` (issue 13: "an agent credential can only watch
 * and serve"); a developer's can never.
 */
export const PERMISSIONS = {
  read: { roles: ['admin', 'developer'], does: "read the manager's info, services and metrics" },
  develop: { roles: ['admin', 'developer'], does: 'open sessions and intercepts' },
  serve: { roles: ['agent'], does: 'act as an agent (watch rule sets, acknowledge them, serve relay streams)' },
  administer: { roles: ['admin'], does: 'manage tokens and read the audit log' },
} as const satisfies Record<string, { roles: readonly Role[]; does: string }>;

export type Permission = keyof typeof PERMISSIONS;

/** Who can change a refusal, said the same way in every message. */
const WHO_CAN_CHANGE = 'an admin can change it in the auth file (`detour token create` / `revoke`, or the file itself)';

/** Throws `DETOUR_ERR_AUTH_FORBIDDEN` unless the identity's role grants `permission`. The shared single token grants all. */
export function checkPermission(identity: Identity, permission: Permission): void {
  const { roles, does } = PERMISSIONS[permission];
  if (identity.shared || (roles as readonly Role[]).includes(identity.role)) return;
  throw forbidden(identity, `${identity.name} (role ${identity.role}) may not ${does}: that needs the role ${roles.join(' or ')}; ${WHO_CAN_CHANGE}`, { permission });
}

/**
 * Checks an intercept against the identity's policy: its services, `--global`,
 * how many it holds (`held`, not counting the one asked for) and the header names
 * it matches on. Throws naming the first rule it breaks.
 */
export function checkInterceptPolicy(identity: Identity, request: InterceptRequest, held: number): void {
  const { policy } = identity;
  const rule = (name: string, text: string) => forbidden(identity, `${identity.name} may not ${text} (policy rule ${name}); ${WHO_CAN_CHANGE}`, { rule: name, service: request.service });
  checkServicePolicy(identity, request.service, 'intercept');
  if (request.global && policy.global === false) throw rule('global', `take a --global intercept`);
  if (policy.maxIntercepts !== undefined && held >= policy.maxIntercepts) {
    throw rule('maxIntercepts', `hold more than ${policy.maxIntercepts} intercept(s) at once; leave one first`);
  }
  if (policy.headers !== undefined) {
    const allowed = policy.headers;
    const other = request.headers.find((matcher) => !allowed.includes(matcher.name.toLowerCase()));
    if (other !== undefined) throw rule('headers', `match on header ${other.name}: allowed ${allowed.length === 0 ? 'none' : allowed.join(', ')}`);
  }
}

/** The policy's `services` rule: `what` (e.g. "intercept") names the action refused, in the one-line refusal. */
export function checkServicePolicy(identity: Identity, service: string, what: string): void {
  const { services } = identity.policy;
  if (services === undefined || services.includes(service)) return;
  throw forbidden(identity, `${identity.name} may not ${what} ${service}: allowed ${services.length === 0 ? 'none' : services.join(', ')} (policy rule services); ${WHO_CAN_CHANGE}`, { rule: 'services', service });
}

/** An admin may act on anyone's intercept; anyone else only on their own. */
export function checkOwnerAction(identity: Identity, owner: string, what: string): void {
  if (identity.shared || identity.role === 'admin' || identity.name === owner) return;
  throw forbidden(identity, `${identity.name} may not ${what} of ${owner}: only its owner or an admin may; ask ${owner}, or an admin`, { rule: 'owner', owner });
}

/** The refusal's details name the caller's own identity and role (the audit log's "who"), never anyone else's existence. */
function forbidden(identity: Identity, message: string, details: Record<string, unknown>): DetourError {
  return new DetourError('DETOUR_ERR_AUTH_FORBIDDEN', message, { details: { identity: identity.name, role: identity.role, ...details } });
}
