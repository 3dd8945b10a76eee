import { FieldNameSet, RouteTable, RoutingKeyVerifier, targetPath } from '@detour/core';
import type { Logger } from '@detour/core';
import { DEFAULT_HOLD_MS } from '@detour/protocol';
import type { Intercept, RuleSet } from '@detour/protocol';
import { routeChannel } from './diagnostics.js';
import type { HoldOutcome, RouteEvent, RouteKind } from './diagnostics.js';
import { HeldRequest, HoldQueue, MAX_HELD_BODY_BYTES, MAX_HELD_REQUESTS } from './held-requests.js';
import type { ProbeWatch } from './probe-reporter.js';
import { WiretapSet } from './wiretap.js';

/** Where one request (or one raw TCP connection) goes. */
export interface Route {
  readonly kind: RouteKind;
  /** The intercept it matched; undefined for `app`. */
  readonly intercept: Intercept | undefined;
}

/** The route of every unmatched request: one shared object, so that deciding it allocates nothing. */
export const APP_ROUTE: Route = Object.freeze({ kind: 'app', intercept: undefined });

/**
 * The field values the rules may read, as each protocol has them: HTTP/1.1's
 * parser already captured the wanted ones by lower-case name (undefined: none
 * was present); HTTP/2 gives node's raw list `[name, value, name, value, …]`
 * with every repetition of a field kept, read only while some rule exists.
 */
export type RequestFields = ReadonlyMap<string, readonly string[]> | readonly string[] | undefined;

const NO_FIELDS: ReadonlyMap<string, readonly string[]> = new Map();

/**
 * Told of every decision, synchronously and before its event is published:
 * the agent's metrics count routes here rather than by subscribing to
 * `detour:agent:route`, whose subscriber would make every request allocate
 * its event (see docs/performance.md, "Metrics").
 */
export interface RouteObserver {
  /** A fresh decision: {@link Router.decide} or {@link Router.decideConnection}. */
  routed(route: Route): void;
  /** The final route of a late refusal ({@link Router.refused}); the request was counted by `routed` already. */
  refused(route: Route): void;
}

const NO_OBSERVER: RouteObserver = { routed: () => undefined, refused: () => undefined };

/**
 * The routing decision on plain data: a request that matched `intercept` (or
 * nothing), while the relay to the manager is up (`relayUp`) or not. An online
 * intercept with a working relay goes to its developer; otherwise its offline
 * policy applies.
 */
export function routeOf(intercept: Intercept | undefined, relayUp: boolean): Route {
  if (intercept === undefined) return APP_ROUTE;
  if (intercept.online && relayUp) return { kind: 'intercept', intercept };
  return offlineRoute(intercept);
}

/**
 * An intercept's offline policy (`--on-disconnect`): `fallback` → the app,
 * `fail` → the offline answer, `hold` → wait for the developer ({@link Router.hold}).
 */
export function offlineRoute(intercept: Intercept): Route {
  const policy = intercept.onDisconnect;
  return { kind: policy === 'fallback' ? 'fallback' : policy === 'hold' ? 'hold' : 'offline', intercept };
}

/** What {@link Router.hold} needs to know of a request. `untilMs`: the deadline of an earlier wait of the same request. */
export interface HoldAsk {
  readonly method: string;
  readonly target: string;
  readonly intercept: Intercept;
  /** The declared body size (Content-Length), 0 when unknown or none. */
  readonly bodyBytes: number;
  readonly untilMs?: number | undefined;
}

/**
 * The agent's one routing module: the live rule set of the service, and every
 * decision made with it, for HTTP/1.1, HTTP/2 (gRPC) and raw TCP alike. Each
 * decision is published on `detour:agent:route` here and nowhere else. A new
 * rule set replaces the compiled table and the parser's capture set at once,
 * so every request sees one consistent version.
 */
export class Router {
  table: RouteTable = RouteTable.EMPTY;
  /** The header names the HTTP/1.1 parser must capture: the rules' and, while `detour trace` runs, the probes'. */
  capture: FieldNameSet = FieldNameSet.EMPTY;
  version = -1;
  /** The global `--mechanism tcp` intercept, if any: a raw TCP port routes whole connections by it alone. */
  tcpIntercept: Intercept | undefined;
  /** Set only while `detour trace` runs: then each request head is checked against the probes. */
  probes: ProbeWatch | undefined;
  /** Checks signed header values (`--signed-keys`) with the rule set's keys; its `rejected` counts feed the metrics. */
  readonly routingKeys = new RoutingKeyVerifier();
  /** Set only while some `--mode wiretap` intercept exists: they never route, they get copies. */
  wiretaps: WiretapSet | undefined;
  readonly #service: string;
  readonly #agentId: string;
  readonly #observer: RouteObserver;
  readonly #held = new HoldQueue();
  #intercepts: readonly Intercept[] = [];
  /** Held requests are logged (rare, and what an operator asks about); routine decisions are not. */
  readonly #logger: Logger | undefined;

  constructor(identity: { service: string; agentId: string; logger?: Logger }, observer: RouteObserver = NO_OBSERVER) {
    this.#service = identity.service;
    this.#agentId = identity.agentId;
    this.#logger = identity.logger;
    this.#observer = observer;
  }

  /** Compiles and installs a rule set; throws DETOUR_ERR_INTERCEPT_INVALID_MATCHER and keeps the old one. */
  install(ruleSet: RuleSet, probes?: ProbeWatch): void {
    this.routingKeys.setKeys(ruleSet.routingKeys ?? []);
    const wiretaps = ruleSet.intercepts.filter((i) => i.mode === 'wiretap');
    const table = new RouteTable(wiretaps.length === 0 ? ruleSet.intercepts : ruleSet.intercepts.filter((i) => i.mode !== 'wiretap'), this.routingKeys);
    const wiretapSet = wiretaps.length === 0 ? undefined : new WiretapSet(wiretaps, this.routingKeys);
    this.capture = new FieldNameSet([...table.headerNames, ...(wiretapSet?.headerNames ?? []), ...(probes?.headerNames ?? [])]);
    this.wiretaps = wiretapSet;
    this.probes = probes;
    this.table = table;
    this.tcpIntercept = ruleSet.intercepts.find((i) => i.global && i.mechanism === 'tcp');
    this.version = ruleSet.version;
    this.#intercepts = ruleSet.intercepts;
    // The developer of a held request may be back (or the intercept gone): wake on install.
    this.#held.recheck(() => new Map(this.#intercepts.map((i) => [i.id, i])));
  }

  /** How many requests wait now (see {@link hold}). */
  get heldCount(): number {
    return this.#held.size;
  }

  /**
   * Routes one request by its target (request-target or `:path`; the query is
   * not matched) and field values. Allocation-free while no rule exists: the
   * unmatched path is the hot one.
   */
  decide(method: string, target: string, fields: RequestFields, relayUp: boolean): Route {
    const table = this.table;
    const route = table.size === 0 ? APP_ROUTE : routeOf(table.match({ path: targetPath(target), headers: fieldValues(fields, table.headerNames) }), relayUp);
    this.#observer.routed(route);
    // A `hold` route is published by hold(), which decides whether the request really waits.
    if (route.kind !== 'hold') this.#publish(method, target, route);
    return route;
  }

  /** Routes a raw TCP connection, which has no request to read: by the global `--mechanism tcp` intercept alone. */
  decideConnection(relayUp: boolean): Route {
    const route = routeOf(this.tcpIntercept, relayUp);
    this.#observer.routed(route);
    if (route.kind !== 'hold') this.#publish('CONNECT', '', route);
    return route;
  }

  /**
   * A route to a developer that failed before any request byte left the agent
   * (the manager or the daemon answered `detour-offline`, or the relay stream
   * died unanswered): the intercept's offline policy applies after all. The
   * final route is published as a second event for the same request (for
   * `hold`, by hold(): the developer just dropped, the request waits).
   */
  refused(method: string, target: string, intercept: Intercept): Route {
    const route = offlineRoute(intercept);
    this.#observer.refused(route);
    if (route.kind !== 'hold') this.#publish(method, target, route);
    return route;
  }

  /**
   * Holds a request of a `hold` intercept (or a raw TCP connection, unread)
   * until its developer is back — a rule set brings the intercept online:
   * `intercept` — or the hold time passes, or the intercept is removed: then
   * `fallback`, to the app. `resume` gets that final route once, unless the
   * caller cancels the wait first (its client went away). A request that
   * cannot wait — its declared body is over MAX_HELD_BODY_BYTES, the agent
   * already holds MAX_HELD_REQUESTS, or its deadline passed — gets its
   * `fallback` route back at once instead. The wait is published as a `hold`
   * event, its end as the final route with the outcome.
   */
  hold(ask: HoldAsk, resume: (route: Route) => void): HeldRequest | Route {
    const { method, target, intercept } = ask;
    const sinceMs = Date.now();
    const untilMs = ask.untilMs ?? sinceMs + (intercept.holdMs ?? DEFAULT_HOLD_MS);
    const refusal: HoldOutcome | undefined =
      ask.bodyBytes > MAX_HELD_BODY_BYTES ? 'body-over-bound' : untilMs <= sinceMs ? 'expired' : this.#held.size >= MAX_HELD_REQUESTS ? 'hold-limit' : undefined;
    if (refusal !== undefined) {
      const route: Route = { kind: 'fallback', intercept };
      this.#logger?.info({ intercept: intercept.id, method, target, outcome: refusal }, 'not holding a request of an offline developer: to the app');
      this.#publish(method, target, route, { outcome: refusal, heldMs: 0 });
      return route;
    }
    const held = new HeldRequest(this.#held, { method, target, intercept, sinceMs, untilMs }, (outcome, current) => {
      const route: Route =
        outcome === 'online' ? { kind: 'intercept', intercept: current! } : outcome === 'policy-changed' ? offlineRoute(current!) : { kind: 'fallback', intercept: held.intercept };
      const heldMs = Date.now() - sinceMs;
      this.#logger?.info({ intercept: intercept.id, method, target, outcome, heldMs, route: route.kind }, 'held request released');
      this.#publish(method, target, route, { outcome, heldMs });
      resume(route);
    });
    this.#held.add(held);
    this.#logger?.info({ intercept: intercept.id, method, target, holdMs: untilMs - sinceMs, held: this.#held.size }, 'holding a request: its developer is offline');
    this.#publish(method, target, { kind: 'hold', intercept });
    return held;
  }

  #publish(method: string, target: string, route: Route, hold?: RouteEvent['hold']): void {
    if (!routeChannel.hasSubscribers) return;
    const event: RouteEvent = {
      service: this.#service,
      agentId: this.#agentId,
      method,
      target,
      route: route.kind,
      interceptId: route.intercept?.id,
      ruleVersion: this.version,
    };
    if (hold !== undefined) event.hold = hold;
    routeChannel.publish(event);
  }
}

/** The values of the fields named in `names`, by name, from what the protocol gave (see {@link RequestFields}). */
function fieldValues(fields: RequestFields, names: ReadonlySet<string>): ReadonlyMap<string, readonly string[]> {
  if (fields === undefined) return NO_FIELDS;
  if (!isRawList(fields)) return fields;
  const out = new Map<string, string[]>();
  let authority: string | undefined;
  // HTTP/2 field names are lower case (RFC 9113 §8.2.1), like the rules' names.
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    if (name === ':authority') authority = fields[i + 1];
    if (!names.has(name)) continue;
    const values = out.get(name);
    if (values === undefined) out.set(name, [fields[i + 1]!]);
    else values.push(fields[i + 1]!);
  }
  // RFC 9113 §8.3.1: `:authority` stands in for Host, which an HTTP/2 client need not send.
  if (authority !== undefined && names.has('host') && !out.has('host')) out.set('host', [authority]);
  return out;
}

function isRawList(fields: ReadonlyMap<string, readonly string[]> | readonly string[]): fields is readonly string[] {
  return Array.isArray(fields);
}
