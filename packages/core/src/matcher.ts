import { RE2JS } from 're2js';
import type { HeaderMatcher, Intercept, InterceptRequest, PathMatcher } from '@detour/protocol';
import { DetourError } from './errors.js';
import type { RoutingKeyVerifier } from './routing-key.js';

/**
 * Per-request routing decisions.
 *
 * Regexes are compiled with RE2 (re2js), whose matching time is linear in the
 * input: a user's pattern runs against every request of a shared service, and a
 * backtracking engine would let one hostile header stall the agent.
 *
 * Precedence, when a request matches several intercepts (documented in README):
 *   1. more header matchers first;
 *   2. then more exact (`equals`) header matchers first, i.e. exact before regex;
 *   3. then intercepts with path matchers before those without;
 *   4. then the oldest (`createdAt`, then the manager's `sequence`).
 */

/** The request facts a route decision needs. Header names are lower case. */
export interface RouteInput {
  /** The request path without its query string. */
  path: string;
  /** Every value of every header named in {@link RouteTable.headerNames}. */
  headers: ReadonlyMap<string, readonly string[]>;
}

type ValueTest = (value: string) => boolean;

interface CompiledIntercept {
  intercept: Intercept;
  /** Position in precedence order; the lowest matching one wins. */
  order: number;
  headerTests: Array<{ name: string; test: ValueTest }>;
  pathTests: ValueTest[];
}

function compileRegex(pattern: string, what: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (cause) {
    throw new DetourError('DETOUR_ERR_INTERCEPT_INVALID_MATCHER', `invalid ${what} regex ${JSON.stringify(pattern)}: ${(cause as Error).message}`, {
      cause,
      details: { pattern },
    });
  }
}

/** Without a verifier (a table compiled outside an agent), a signed matcher matches nothing. */
function headerTest(matcher: HeaderMatcher, verifier?: RoutingKeyVerifier): ValueTest {
  if (matcher.signed === true) {
    const expected = matcher.value;
    // Not counted here: the index lookup in RouteTable.match counted this value's refusal already.
    return verifier === undefined ? () => false : (value) => verifier.nameOf(value, false) === expected;
  }
  if (matcher.op === 'equals') {
    const expected = matcher.value;
    return (value) => value === expected;
  }
  const re = compileRegex(matcher.value, `header ${matcher.name}`);
  return (value) => re.matches(value);
}

function pathTest(matcher: PathMatcher): ValueTest {
  const expected = matcher.value;
  switch (matcher.op) {
    case 'equals':
      return (path) => path === expected;
    case 'prefix':
      return (path) => path.startsWith(expected);
    case 'regex': {
      const re = compileRegex(expected, 'path');
      return (path) => re.matches(path);
    }
  }
}

/** Orders two intercepts by precedence: negative when `a` wins. */
export function comparePrecedence(a: Intercept, b: Intercept): number {
  const exact = (i: Intercept) => i.headers.filter((h) => h.op === 'equals').length;
  return (
    b.headers.length - a.headers.length ||
    exact(b) - exact(a) ||
    Number(b.paths.length > 0) - Number(a.paths.length > 0) ||
    a.createdAt - b.createdAt ||
    a.sequence - b.sequence
  );
}

/** Throws DETOUR_ERR_INTERCEPT_INVALID_MATCHER when a matcher cannot be compiled. */
export function validateMatchers(request: Pick<InterceptRequest, 'headers' | 'paths'>): void {
  request.headers.forEach((h) => headerTest(h));
  request.paths.forEach(pathTest);
}

/**
 * A canonical form of an intercept's matchers. Two intercepts on one service with
 * the same key would match exactly the same requests, so the second is refused.
 */
export function matcherKey(request: Pick<InterceptRequest, 'headers' | 'paths' | 'global'>): string {
  const headers = request.headers.map((h) => `${h.name}\u0000${h.op}\u0000${h.value}${h.signed === true ? '\u0000signed' : ''}`).sort();
  const paths = [...new Set(request.paths.map((p) => `${p.op}\u0000${p.value}`))].sort();
  return JSON.stringify({ global: request.global, headers: [...new Set(headers)], paths });
}

/**
 * The compiled rules of one service. Matching cost does not grow with the number
 * of personal intercepts: intercepts with an exact header matcher are found by a
 * hash lookup on that header's value; only the rest are scanned.
 */
export class RouteTable {
  static readonly EMPTY = new RouteTable([]);

  /** Lower-case names of every header some rule reads; a parser may skip the others. */
  readonly headerNames: ReadonlySet<string>;
  readonly size: number;
  readonly #byExactHeader = new Map<string, Map<string, CompiledIntercept[]>>();
  /** Signed matchers (`--signed-keys`), by header and the name a value must be signed for. */
  readonly #bySignedHeader = new Map<string, Map<string, CompiledIntercept[]>>();
  readonly #scanned: CompiledIntercept[] = [];
  readonly #verifier: RoutingKeyVerifier | undefined;

  /**
   * Compiles a rule set. Throws DETOUR_ERR_INTERCEPT_INVALID_MATCHER on a bad regex.
   * `verifier` checks the values of signed matchers; without one they match nothing.
   */
  constructor(intercepts: readonly Intercept[], verifier?: RoutingKeyVerifier) {
    this.#verifier = verifier;
    const names = new Set<string>();
    const ordered = [...intercepts].sort(comparePrecedence);
    ordered.forEach((intercept, order) => {
      const compiled: CompiledIntercept = {
        intercept,
        order,
        headerTests: intercept.headers.map((h) => ({ name: h.name, test: headerTest(h, verifier) })),
        pathTests: intercept.paths.map(pathTest),
      };
      for (const h of intercept.headers) names.add(h.name);
      // A signed matcher is the index key when there is one: a request is found by the name its value is signed for.
      const key = intercept.headers.find((h) => h.signed === true) ?? intercept.headers.find((h) => h.op === 'equals');
      if (key === undefined) {
        this.#scanned.push(compiled);
        return;
      }
      const index = key.signed === true ? this.#bySignedHeader : this.#byExactHeader;
      let byValue = index.get(key.name);
      if (byValue === undefined) index.set(key.name, (byValue = new Map()));
      const bucket = byValue.get(key.value);
      if (bucket === undefined) byValue.set(key.value, [compiled]);
      else bucket.push(compiled);
    });
    this.headerNames = names;
    this.size = ordered.length;
  }

  /** The winning intercept for a request, or undefined when the app should serve it. */
  match(input: RouteInput): Intercept | undefined {
    let best: CompiledIntercept | undefined;
    for (const [name, byValue] of this.#byExactHeader) {
      const values = input.headers.get(name);
      if (values === undefined) continue;
      for (const value of values) {
        const bucket = byValue.get(value);
        if (bucket === undefined) continue;
        for (const candidate of bucket) {
          if (best !== undefined && candidate.order > best.order) break;
          if (matches(candidate, input)) best = candidate;
        }
      }
    }
    const verifier = this.#verifier;
    if (verifier !== undefined) {
      for (const [name, byName] of this.#bySignedHeader) {
        const values = input.headers.get(name);
        if (values === undefined) continue;
        for (const value of values) {
          const signedFor = verifier.nameOf(value, true);
          if (signedFor === undefined) continue;
          const bucket = byName.get(signedFor);
          if (bucket === undefined) continue;
          for (const candidate of bucket) {
            if (best !== undefined && candidate.order > best.order) break;
            if (matches(candidate, input)) best = candidate;
          }
        }
      }
    }
    for (const candidate of this.#scanned) {
      if (best !== undefined && candidate.order > best.order) break;
      if (matches(candidate, input)) {
        best = candidate;
        break;
      }
    }
    return best?.intercept;
  }
}

function matches(candidate: CompiledIntercept, input: RouteInput): boolean {
  for (const { name, test } of candidate.headerTests) {
    const values = input.headers.get(name);
    if (values === undefined || !values.some(test)) return false;
  }
  return candidate.pathTests.length === 0 || candidate.pathTests.some((test) => test(input.path));
}
