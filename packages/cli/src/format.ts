import type { Intercept, InterceptRequest, SignedValue } from '@detour/protocol';
import { describePolicy } from './disconnect-policy.js';

/** One-line description of what an intercept matches, as `list`, `status` and `intercept` show it. */
export function describeMatchers(intercept: Pick<InterceptRequest, 'headers' | 'paths' | 'global'> & Partial<Pick<InterceptRequest, 'mechanism'>>): string {
  if (intercept.global) return intercept.mechanism === 'tcp' ? 'all TCP connections (global)' : 'all requests (global)';
  const headers = intercept.headers.map((h) => `${h.name}${h.op === 'regex' ? '~=' : '='}${h.value}${h.signed === true ? ' (signed)' : ''}`);
  const paths = intercept.paths.map((p) => (p.op === 'equals' ? `path=${p.value}` : p.op === 'prefix' ? `path^=${p.value}` : `path~=${p.value}`));
  const parts = [...headers];
  if (paths.length > 0) parts.push(paths.length === 1 ? paths[0]! : `(${paths.join(' | ')})`);
  return parts.join(' & ');
}

/** What `list` and `status` add after the matchers: ` (wiretap)`, ` (falls through on 404,501)`, or nothing. */
export function describeMode(intercept: Pick<InterceptRequest, 'mode' | 'fallthrough'>): string {
  if (intercept.mode === 'wiretap') return ' (wiretap)';
  return intercept.fallthrough === undefined ? '' : ` (falls through on ${intercept.fallthrough.statuses.join(',')})`;
}

export function describeState(intercept: Intercept | undefined, error: string | undefined): string {
  if (error !== undefined) return `failed: ${error}`;
  if (intercept === undefined) return 'pending';
  return intercept.online ? 'active' : `offline (${describePolicy(intercept)})`;
}

/**
 * The `NAME=VALUE` a caller sends to reach an intercept, when it is matched by exact header values;
 * for a signed matcher (`--signed-keys`) the value is the developer's signed one, exactly as given.
 */
export function headerToSend(intercept: Pick<InterceptRequest, 'headers'>, signedValue: SignedValue | undefined): string | undefined {
  const exact = intercept.headers.find((h) => h.op === 'equals');
  if (exact === undefined) return undefined;
  if (exact.signed === true) return signedValue === undefined ? undefined : `${exact.name}=${signedValue.value}`;
  return `${exact.name}=${exact.value}`;
}
