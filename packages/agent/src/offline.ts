import type { RequestHead } from '@detour/core';
import type { Intercept } from '@detour/protocol';
import { AppExchange } from './app-exchange.js';
import type { ExchangeHost } from './exchange.js';

/** The 503 an agent answers for an intercept whose developer is not connected and whose policy is `fail`. */
export function offlineError(intercept: Intercept, service: string): { message: string; details: Record<string, unknown> } {
  return {
    message: `intercept ${intercept.name} on ${service} is offline: its developer ${intercept.owner.name} is not connected`,
    details: { intercept: intercept.id, name: intercept.name, owner: intercept.owner.name },
  };
}

/** Hands a matched HTTP/1.1 request back to the app, as if unmatched (`fallback`, or a relay refused before any body byte left). */
export function fallBackToApp(host: ExchangeHost, head: RequestHead, buf: Buffer, start: number): void {
  host.replace(new AppExchange(host, head, buf, start));
}

/** What a matched HTTP/1.1 request gets while its developer is unreachable: the app (`fallback`) or the 503 (`fail`). */
export function applyOfflinePolicy(host: ExchangeHost, intercept: Intercept, head: RequestHead, buf: Buffer, start: number): void {
  if (intercept.onDisconnect === 'fallback') {
    fallBackToApp(host, head, buf, start);
    return;
  }
  const { message, details } = offlineError(intercept, host.ctx.options.service);
  host.fail(503, 'DETOUR_ERR_TUNNEL_OFFLINE', message, details);
}
