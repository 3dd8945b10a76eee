import diagnostics from 'node:diagnostics_channel';

/** How a request was routed. `fallback`: matched an offline intercept whose policy sends it to the app. */
export type RouteKind = 'app' | 'intercept' | 'fallback' | 'offline';

/** Message published on `detour:agent:route`. */
export interface RouteEvent {
  service: string;
  agentId: string;
  method: string;
  target: string;
  route: RouteKind;
  interceptId: string | undefined;
  ruleVersion: number;
}

/** Routing decisions, for tests and the dashboard (undici's `lib/core/diagnostics.js` pattern). */
export const routeChannel = diagnostics.channel('detour:agent:route');
