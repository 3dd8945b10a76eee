import { API_PREFIX } from '@detour/protocol';
import { DetourError } from '@detour/core';
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
  handler: async (_context, exchange) => {
    throw notFound(exchange);
  },
};

function findRoute(method: string, path: string): { route: ApiRoute; groups: Record<string, string> } {
  if (!path.startsWith(`${API_PREFIX}/`)) return { route: NOT_FOUND, groups: {} };
  const rest = path.slice(API_PREFIX.length);
  for (const route of API_ROUTES) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(rest);
    if (match !== null) return { route, groups: { ...match.groups } };
  }
  return { route: NOT_FOUND, groups: {} };
}

/**
 * The JSON API: finds the route, lets the gate check what the route declares,
 * then runs its handler. Build it without a socket and feed it exchanges to test it.
 */
export function createApiHandler(context: ApiContext, gate: AuthGate): ApiHandler {
  return async (exchange) => {
    try {
      const { route, groups } = findRoute(exchange.method, exchange.url.pathname);
      // Segments are decoded on use, after the gate has checked the token.
      const param = (name: string): string => {
        const raw = groups[name];
        if (raw === undefined) throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `route ${route.method} ${route.pattern.source} has no :${name}`);
        return decodeURIComponent(raw);
      };
      const grant = gate.authorize(route.auth, { header: exchange.header, param });
      await route.handler(context, exchange, { ...grant, param });
    } catch (err) {
      sendError(context.logger, exchange, err);
    }
  };
}
