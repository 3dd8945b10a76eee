import diagnostics from 'node:diagnostics_channel';

/**
 * How a request was routed. `fallback`: matched an offline intercept whose
 * policy sends it to the app (at once, or after a hold). `hold`: matched an
 * offline intercept whose policy is `hold`; the request starts waiting, and a
 * second event gives its final route.
 */
export type RouteKind = 'app' | 'intercept' | 'fallback' | 'offline' | 'hold';

/**
 * Why a `hold` request stopped waiting, or did not begin to: `online` — the
 * developer came back; `expired` — the hold time passed; `removed` — the
 * intercept is gone; `policy-changed` — it no longer holds; `body-over-bound`
 * — its declared body is over MAX_HELD_BODY_BYTES; `hold-limit` — the agent
 * already held MAX_HELD_REQUESTS.
 */
export type HoldOutcome = 'online' | 'expired' | 'removed' | 'policy-changed' | 'body-over-bound' | 'hold-limit';

/** Message published on `detour:agent:route`. */
export interface RouteEvent {
  service: string;
  agentId: string;
  method: string;
  target: string;
  route: RouteKind;
  interceptId: string | undefined;
  ruleVersion: number;
  /** Only on the final route of a `hold` intercept's request: why it ended, after how long (ms). */
  hold?: { outcome: HoldOutcome; heldMs: number };
}

/** Routing decisions, for tests and the dashboard (undici's `lib/core/diagnostics.js` pattern). */
export const routeChannel = diagnostics.channel('detour:agent:route');
