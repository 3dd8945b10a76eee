import type { HeaderMatcher, PathMatcher } from '@detour/protocol';
import { DEFAULT_HEADER_NAME, HTTP_TOKEN } from '@detour/protocol';
import { DetourError, validateMatchers } from '@detour/core';

/**
 * Parses one `--http-header` spec:
 *   `NAME=VALUE`  exact value (name case-insensitive, value case-sensitive)
 *   `NAME~=REGEX` RE2 regex that must match the whole value
 *   `auto`        the default header with this developer's own value
 */
export function parseHeaderSpec(spec: string, autoValue: string): HeaderMatcher {
  if (spec === 'auto') return { name: DEFAULT_HEADER_NAME, op: 'equals', value: autoValue };
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
  if (isRegex) validateOrUsage(() => validateMatchers({ headers: [matcher], paths: [] }));
  return matcher;
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
  validateOrUsage(() => validateMatchers({ headers: [], paths: matchers }));
  return matchers;
}

/** A bad regex is the user's mistake: report it as such (exit 2), not as an API error. */
function validateOrUsage(check: () => void): void {
  try {
    check();
  } catch (err) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', (err as Error).message);
  }
}
