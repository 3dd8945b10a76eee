import { ClientRequest, type IncomingMessage } from 'node:http';
import { context, type Span } from '@opentelemetry/api';
import type { UndiciRequest } from '@opentelemetry/instrumentation-undici';
import { getCarried } from './carried-headers.js';
import type { EgressPolicy } from './egress-policy.js';
import { hostsOfGrpcTarget } from './grpc-target.js';
import type { Logger } from './logger.js';
import type { OutboundDecisions } from './outbound-decisions.js';
import { isProbeValue } from './probe-value.js';
import type { StatsCounter } from './stats.js';

export interface OutboundHookDeps {
  readonly headers: readonly string[];
  readonly policy: EgressPolicy;
  readonly decisions: OutboundDecisions;
  readonly stats: StatsCounter;
  readonly logger: Logger;
}

/**
 * instrumentation-undici runs `requestHook` before it injects (undici.ts:
 * "Context propagation goes last"), so here we only decide: withhold every
 * header for a host that is not allowed, and any header the app set itself,
 * because undici appends rather than replaces and would send two copies.
 */
export function undiciRequestHook(deps: OutboundHookDeps): (span: Span, request: UndiciRequest) => void {
  return (span, request) => {
    const host = new URL(request.origin).hostname;
    if (!deps.policy.allows(host)) {
      deps.decisions.withhold(span, deps.headers);
      deps.logger.debug(`detour propagation: fetch to ${host} is external; headers withheld`);
      return;
    }
    const present = headerNamesOf(request.headers);
    const appSet = deps.headers.filter((h) => present.has(h));
    if (appSet.length > 0) {
      const carried = getCarried(context.active());
      for (const h of appSet) {
        const value = carried?.[h];
        if (value !== undefined && !isProbeValue(value)) deps.stats.appSetHeaders++;
      }
      deps.decisions.withhold(span, appSet);
    }
    deps.decisions.checked(span);
  };
}

/**
 * instrumentation-http injects into the request options before the request
 * exists and calls `requestHook` right after creating it, before the app can
 * call `end()`, so headers can still be removed. We remove a header only when
 * it holds the carried value, leaving a value the app chose itself alone.
 */
export function httpRequestHook(deps: OutboundHookDeps): (span: Span, request: ClientRequest | IncomingMessage) => void {
  return (_span, request) => {
    if (!(request instanceof ClientRequest)) return;
    if (deps.policy.allows(request.host)) return;
    const carried = getCarried(context.active());
    if (carried === undefined) return;
    for (const h of deps.headers) {
      const value = carried[h];
      if (value === undefined || request.getHeader(h) !== value) continue;
      request.removeHeader(h);
      if (!isProbeValue(value)) {
        deps.stats.propagatedHeaders--;
        deps.stats.droppedHeaders++;
      }
      deps.logger.debug(`detour propagation: http to ${request.host} is external; ${h} removed`);
    }
  };
}

/**
 * Called with the grpc-js client and the call's span before the propagator
 * injects; see grpc-instrumentation.ts for why this is reached by name.
 */
export function grpcTargetHook(deps: OutboundHookDeps): (target: string, span: Span) => void {
  return (target, span) => {
    const hosts = hostsOfGrpcTarget(target);
    if (hosts.length > 0 && hosts.every((h) => deps.policy.allows(h))) {
      deps.decisions.checked(span);
      return;
    }
    deps.decisions.withhold(span, deps.headers);
    deps.logger.debug(`detour propagation: gRPC to ${target} is external; headers withheld`);
  };
}

/** Lower-cased header names from undici's request headers, in any of its versions' shapes. */
function headerNamesOf(headers: UndiciRequest['headers']): Set<string> {
  const names = new Set<string>();
  if (typeof headers === 'string') {
    for (const line of headers.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) names.add(line.slice(0, colon).trim().toLowerCase());
    }
  } else {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (typeof name === 'string') names.add(name.toLowerCase());
    }
  }
  return names;
}
