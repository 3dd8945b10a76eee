import type { HeaderMatcher, PathMatcher } from '@detour/protocol';
import { DEFAULT_HEADER_NAME, HTTP_TOKEN } from '@detour/protocol';
import { DetourError, validateMatchers } from '@detour/core';

/** The `--http-header auto` spec, before the daemon has said this developer's header value. */
export const AUTO_HEADER = 'auto';

/**
 * Parses one `--http-header` spec:
 *   `NAME=VALUE`  exact value (name case-insensitive, value case-sensitive)
 *   `NAME~=REGEX` RE2 regex that must match the whole value
 *   `auto`        the default header with this developer's own value (autoHeaderMatcher)
 * It needs no daemon, so a mistyped flag is reported before anything is contacted.
 */
export function parseHeaderSpec(spec: string): HeaderMatcher | typeof AUTO_HEADER {
  if (spec === AUTO_HEADER) return AUTO_HEADER;
  const eq = spec.indexOf('=');
  if (eq <= 0) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --http-header ${JSON.stringify(spec)}: use NAME=VALUE, NAME~=REGEX or auto`);
  }
  const isRegex = spec[eq - 1] === '~';
  const name = spec.slice(0, isRegex ? eq - 1 : eq);
  const value = spec.slice(eq + 1);
  if (!HTTP_TOKEN.test(name)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --http-header ${JSON.stringify(spec)}: ${JSON.stringify(name)} is not a valid header name`);
  }
  const matcher: HeaderMatcher = { name: name.toLowerCase(), op: isRegex ? 'regex' : 'equals', value };
  // A regex RE2 cannot compile throws DETOUR_ERR_INTERCEPT_INVALID_MATCHER: the user's to fix, so exit 2.
  if (isRegex) validateMatchers({ headers: [matcher], paths: [] });
  return matcher;
}

/** `--http-header auto`: the default header with the value the daemon holds for this developer. */
export function autoHeaderMatcher(value: string): HeaderMatcher {
  return { name: DEFAULT_HEADER_NAME, op: 'equals', value };
}

export function parsePathMatchers(equal: string[], prefix: string[], regex: string[]): PathMatcher[] {
  const matchers: PathMatcher[] = [
    ...equal.map((value) => ({ op: 'equals' as const, value })),
    ...prefix.map((value) => ({ op: 'prefix' as const, value })),
    ...regex.map((value) => ({ op: 'regex' as const, value })),
  ];
  for (const m of matchers) {
    if (m.op !== 'regex' && !m.value.startsWith('/')) {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad path ${JSON.stringify(m.value)}: a path starts with "/"`);
    }
  }
  validateMatchers({ headers: [], paths: matchers });
  return matchers;
}
