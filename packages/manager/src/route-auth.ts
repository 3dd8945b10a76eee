import { SESSION_KEY_HEADER } from '@detour/protocol';
import type { Intercept, SessionInfo } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { AuthSource } from './auth/auth-source.js';
import type { Identity } from './auth/identities.js';
import { checkPermission } from './auth/permissions.js';
import type { Permission } from './auth/permissions.js';
import type { ManagerState } from './state.js';

/**
 * What a route needs from its caller, declared by the route (see api-routes.ts)
 * and checked here, in one place, before its handler runs. Every level includes
 * a bearer token that names a valid identity (auth/identities.ts) whose role
 * grants the route's {@link Permission}.
 * - `token`: the token only.
 * - `session`: a session key that owns the route's `:sessionId`.
 * - `caller-session`: the key of any session; the call acts for that session.
 * - `intercept-owner`: the key of the session that owns the route's `:interceptId`.
 * A session belongs to the identity that opened it: another identity's token
 * with its key is refused as if the key were unknown.
 *
 * Relay streams are the one exception to "every level includes the token": they
 * carry the caller's own headers, `authorization` included, which must reach the
 * developer untouched. Their HTTP/2 session is vouched for instead by the agent's
 * watch stream, or by the first stream of one of its data sessions, both
 * checked at `token` level ({@link AuthGate.authorizeRelay}).
 */
export type RouteAuth = 'token' | 'session' | 'caller-session' | 'intercept-owner';

/** What each level proves, handed to the route's handler; every level names the caller's identity. */
export interface Grants {
  token: { identity: Identity };
  session: { identity: Identity; session: SessionInfo };
  'caller-session': { identity: Identity; session: SessionInfo };
  'intercept-owner': { identity: Identity; session: SessionInfo; intercept: Intercept };
}

/** The parts of a call the gate looks at. `param` gives the route's named path segments, decoded; calls without any (the tunnel upgrade) have none. */
export interface AuthRequest {
  header(name: string): string | undefined;
  param?: (name: string) => string;
}

export interface AuthGate {
  /** Throws the `DETOUR_ERR_AUTH_*`, `_SESSION_*` or `_INTERCEPT_*` error the call earns, or returns what it proved. */
  authorize<A extends RouteAuth>(auth: A, permission: Permission, request: AuthRequest): Grants[A];
  /** Refuses a relay stream on an HTTP/2 session that no accepted agent watch or data-session stream authenticated. */
  authorizeRelay(sessionWatched: boolean): void;
}

export function createAuthGate(auth: AuthSource, state: ManagerState, now: () => number = Date.now): AuthGate {
  const param = (request: AuthRequest, name: string): string => {
    if (request.param === undefined) throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `a call without path segments asked for :${name}`);
    return request.param(name);
  };
  /** The caller's own session: in identity mode a session is named after the identity that opened it. */
  const own = (identity: Identity, session: SessionInfo): SessionInfo => {
    if (!identity.shared && session.name !== identity.name) throw new DetourError('DETOUR_ERR_SESSION_UNKNOWN', 'no session has this session key; it expired or the manager restarted');
    return session;
  };
  const grant = (level: RouteAuth, permission: Permission, request: AuthRequest): Grants[RouteAuth] => {
    const identity = auth.book.authenticate(bearer(request.header('authorization')), now());
    checkPermission(identity, permission);
    const key = request.header(SESSION_KEY_HEADER);
    switch (level) {
      case 'token':
        return { identity };
      case 'session':
        return { identity, session: own(identity, state.authorizeSession(param(request, 'sessionId'), key)) };
      case 'caller-session':
        return { identity, session: own(identity, state.sessionForKey(key)) };
      case 'intercept-owner': {
        const session = own(identity, state.sessionForKey(key));
        return { identity, session, intercept: state.ownIntercept(session.id, param(request, 'interceptId')) };
      }
    }
  };
  return {
    // The switch above returns the grant of the level it was given; TypeScript cannot tie the two together.
    authorize: <A extends RouteAuth>(level: A, permission: Permission, request: AuthRequest) => grant(level, permission, request) as Grants[A],
    authorizeRelay: (sessionWatched) => {
      if (!sessionWatched) throw new DetourError('DETOUR_ERR_AUTH_MISSING_TOKEN', 'relay streams need a session authenticated by an agent watch');
    },
  };
}

/** The token of an `Authorization: Bearer` value; never quoted in an error. */
function bearer(authorization: string | undefined): string {
  if (authorization === undefined || authorization === '') {
    throw new DetourError('DETOUR_ERR_AUTH_MISSING_TOKEN', 'this endpoint requires "Authorization: Bearer <token>" (see --token-file)');
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match === null) throw new DetourError('DETOUR_ERR_AUTH_BAD_TOKEN', 'the bearer token is wrong, revoked or expired; ask an admin for a new one (`detour token create`)');
  return match[1]!;
}
