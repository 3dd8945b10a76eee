import { API_PREFIX } from '@detour/protocol';
import type { Role } from '@detour/protocol';
import { DetourError, isDetourError } from '@detour/core';
import { sendError } from './api-exchange.js';
import type { ApiExchange } from './api-exchange.js';
import { API_ROUTES, notFound } from './api-routes.js';
import type { ApiContext, ApiRoute } from './api-routes.js';
import type { AuthGate } from './route-auth.js';

/** Answers one API call, whichever HTTP version carried it. Errors become a 4xx/5xx with a JSON body. */
export type ApiHandler = (exchange: ApiExchange) => Promise<void>;

/** Stands in for an unknown path: the token is checked first, so without one even a wrong path gets `401`. */
const NOT_FOUND: ApiRoute = {
  method: '*',
  pattern: /^/,
  auth: 'token',
  permission: 'read',
  handler: async (_context, exchange) => {
    throw notFound(exchange);
  },
};

function findRoute(method: string, path: string): { route: ApiRoute; groups: Record<string, string> } {
  const versioned = path.startsWith(`${API_PREFIX}/`);
  const rest = versioned ? path.slice(API_PREFIX.length) : path;
  for (const route of API_ROUTES) {
    if (route.method !== method || (route.unversioned === true) === versioned) continue;
    const match = route.pattern.exec(rest);
    if (match !== null) return { route, groups: { ...match.groups } };
  }
  return { route: NOT_FOUND, groups: {} };
}

/** A route's pattern as a metric label, `/v1/sessions/:sessionId`: bounded by the route table, whatever paths callers send. */
const ROUTE_LABELS = new Map<ApiRoute, string>([
  [NOT_FOUND, 'unmatched'],
  ...API_ROUTES.map((route): [ApiRoute, string] => {
    const path = route.pattern.source.replace(/^\^|\$$/g, '').replace(/\(\?<(\w+)>[^)]*\)/g, ':$1').replace(/\\\//g, '/');
    return [route, route.unversioned === true ? path : `${API_PREFIX}${path}`];
  }),
]);

const AUTH_REFUSALS = new Set(['DETOUR_ERR_AUTH_MISSING_TOKEN', 'DETOUR_ERR_AUTH_BAD_TOKEN', 'DETOUR_ERR_AUTH_FORBIDDEN']);

/**
 * A refused call is an audit line: who (when the token named someone), which
 * endpoint, the rule and why, from where. Never the token: no message quotes one.
 */
function auditRefusal(context: ApiContext, exchange: ApiExchange, route: ApiRoute, err: unknown): void {
  if (!isDetourError(err) || !AUTH_REFUSALS.has(err.code)) return;
  const { identity, role, ...rule } = err.details ?? {};
  context.audit.record({ name: typeof identity === 'string' ? identity : 'unknown', ...(typeof role === 'string' ? { role: role as Role } : {}) }, {
    action: 'auth.refused',
    from: exchange.remote,
    outcome: 'refused',
    details: { code: err.code, endpoint: `${route.method} ${ROUTE_LABELS.get(route)!}`, ...rule, ...(err.code === 'DETOUR_ERR_AUTH_FORBIDDEN' ? { reason: err.message } : {}) },
  });
}

/**
 * The JSON API: finds the route, lets the gate check what the route declares,
 * then runs its handler. Build it without a socket and feed it exchanges to test it.
 */
export function createApiHandler(context: ApiContext, gate: AuthGate): ApiHandler {
  return async (received) => {
    let route = NOT_FOUND;
    let status: number | undefined;
    const exchange: ApiExchange = {
      ...received,
      send: (code, body) => {
        status ??= code;
        received.send(code, body);
      },
      sendText: (code, contentType, text) => {
        status ??= code;
        received.sendText(code, contentType, text);
      },
    };
    try {
      const found = findRoute(exchange.method, exchange.url.pathname);
      route = found.route;
      const { groups } = found;
      // Segments are decoded on use, after the gate has checked the token.
      const param = (name: string): string => {
        const raw = groups[name];
        if (raw === undefined) throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `route ${route.method} ${route.pattern.source} has no :${name}`);
        return decodeURIComponent(raw);
      };
      const grant = gate.authorize(route.auth, route.permission, { header: exchange.header, param });
      await route.handler(context, exchange, { ...grant, param });
    } catch (err) {
      auditRefusal(context, exchange, route, err);
      sendError(context.logger, exchange, err);
    }
    // The agent watch answers on its own stream, never through send().
    status ??= Number(exchange.h2Stream?.sentHeaders[':status'] ?? 0);
    context.metrics.apiRequest(route.method, ROUTE_LABELS.get(route)!, status);
  };
}
