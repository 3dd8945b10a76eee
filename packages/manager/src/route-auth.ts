import { timingSafeEqual } from 'node:crypto';
import { SESSION_KEY_HEADER } from '@detour/protocol';
import type { Intercept, SessionInfo } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { ManagerState } from './state.js';

/**
 * What a route needs from its caller, declared by the route (see api-routes.ts)
 * and checked here, in one place, before its handler runs. Every level includes
 * the bearer token.
 * - `token`: the manager token only.
 * - `session`: a session key that owns the route's `:sessionId`.
 * - `caller-session`: the key of any session; the call acts for that session.
 * - `intercept-owner`: the key of the session that owns the route's `:interceptId`.
 *
 * Relay streams are the one exception to "every level includes the token": they
 * carry the caller's own headers, `authorization` included, which must reach the
 * developer untouched. Their HTTP/2 session is vouched for instead by the agent's
 * watch stream, or by the first stream of one of its data sessions, both
 * checked at `token` level ({@link AuthGate.authorizeRelay}).
 */
export type RouteAuth = 'token' | 'session' | 'caller-session' | 'intercept-owner';

/** What each level proves, handed to the route's handler. */
export interface Grants {
  token: object;
  session: { session: SessionInfo };
  'caller-session': { session: SessionInfo };
  'intercept-owner': { session: SessionInfo; intercept: Intercept };
}

/** The parts of a call the gate looks at. `param` gives the route's named path segments, decoded; calls without any (the tunnel upgrade) have none. */
export interface AuthRequest {
  header(name: string): string | undefined;
  param?: (name: string) => string;
}

export interface AuthGate {
  /** Throws the `DETOUR_ERR_AUTH_*`, `_SESSION_*` or `_INTERCEPT_*` error the call earns, or returns what it proved. */
  authorize<A extends RouteAuth>(auth: A, request: AuthRequest): Grants[A];
  /** Refuses a relay stream on an HTTP/2 session that no accepted agent watch or data-session stream authenticated. */
  authorizeRelay(sessionWatched: boolean): void;
}

export function createAuthGate(token: string, state: ManagerState): AuthGate {
  const tokenBytes = Buffer.from(token);
  const param = (request: AuthRequest, name: string): string => {
    if (request.param === undefined) throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `a call without path segments asked for :${name}`);
    return request.param(name);
  };
  const grant = (auth: RouteAuth, request: AuthRequest): Grants[RouteAuth] => {
    checkBearer(request.header('authorization'), tokenBytes);
    const key = request.header(SESSION_KEY_HEADER);
    switch (auth) {
      case 'token':
        return {};
      case 'session':
        return { session: state.authorizeSession(param(request, 'sessionId'), key) };
      case 'caller-session':
        return { session: state.sessionForKey(key) };
      case 'intercept-owner': {
        const session = state.sessionForKey(key);
        return { session, intercept: state.ownIntercept(session.id, param(request, 'interceptId')) };
      }
    }
  };
  return {
    // The switch above returns the grant of the level it was given; TypeScript cannot tie the two together.
    authorize: <A extends RouteAuth>(auth: A, request: AuthRequest) => grant(auth, request) as Grants[A],
    authorizeRelay: (sessionWatched) => {
      if (!sessionWatched) throw new DetourError('DETOUR_ERR_AUTH_MISSING_TOKEN', 'relay streams need a session authenticated by an agent watch');
    },
  };
}

/** Checks an `Authorization: Bearer` value against the manager token in constant time. */
function checkBearer(authorization: string | undefined, token: Buffer): void {
  if (authorization === undefined || authorization === '') {
    throw new DetourError('DETOUR_ERR_AUTH_MISSING_TOKEN', 'this endpoint requires "Authorization: Bearer <token>" (see the manager --token-file)');
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const given = Buffer.from(match?.[1] ?? '');
  if (given.length !== token.length || !timingSafeEqual(given, token)) {
    throw new DetourError('DETOUR_ERR_AUTH_BAD_TOKEN', 'the bearer token is wrong');
  }
}
