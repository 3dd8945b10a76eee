import { isIP } from 'node:net';
import { DEFAULTS } from './defaults.js';
import { ERROR_CODES, PropagationError } from './errors.js';
import type { Logger } from './logger.js';

export type SelfTestMode = 'off' | 'warn' | 'strict';

/** Options for `register()`. Every field is optional. */
export interface PropagationOptions {
  /** Header names to carry, matched case-insensitively. Default `['x-telepresence-id']`. */
  headers?: readonly string[];
  /** Also put the first header's value into this W3C baggage key (e.g. `devid`). */
  baggageKey?: string;
  /**
   * Extra hosts that may receive the headers: `api.example.com`, `.example.com`
   * or `*.example.com` (suffix), `10.2.0.0/16` (CIDR), an IP, or `*` for all.
   * Cluster-internal hosts are always allowed.
   */
  allowHosts?: readonly string[];
  /** Start-up self-check: `off`, `warn` (default) or `strict`. */
  selfTest?: SelfTestMode;
  /** Where warnings and debug lines go. Without one the library is silent. */
  logger?: Logger;
  /**
   * Send `fetch` and `http`/`https` calls to environment names through detour's
   * outbound proxy (`detour run` sets it): `url` the proxy (http://127.0.0.1:PORT),
   * `hosts` environment names beyond single-label ones and `*.svc[.cluster.local]`
   * (`name`, `.suffix`, `*.suffix`, IP, CIDR). Other calls go direct.
   */
  outboundProxy?: { url: string; hosts?: readonly string[] };
}

/** Validated, frozen settings. */
export interface PropagationConfig {
  readonly headers: readonly string[];
  readonly baggageKey: string | undefined;
  readonly allowHosts: readonly string[];
  readonly selfTest: SelfTestMode;
  readonly maxValueBytes: number;
  readonly selfTestTimeoutMs: number;
  readonly outboundProxy: { readonly url: string; readonly hosts: readonly string[] } | undefined;
}

const KNOWN_KEYS: ReadonlySet<string> = new Set(['headers', 'baggageKey', 'allowHosts', 'selfTest', 'logger', 'outboundProxy']);
// Valid as an HTTP field name and as a grpc-js metadata key (which allows only these).
const HEADER_NAME = /^[0-9a-z][0-9a-z_.-]*$/;
// W3C baggage keys are RFC 7230 tokens.
const BAGGAGE_KEY = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HOST_PATTERN = /^(\*\.|\.)?[0-9a-z]([0-9a-z-]*[0-9a-z])?(\.[0-9a-z]([0-9a-z-]*[0-9a-z])?)*$/;
// Carried by the W3C propagators already; carrying them again would fight those.
const RESERVED_HEADERS: ReadonlySet<string> = new Set(['traceparent', 'tracestate', 'baggage', 'host']);
const SELF_TEST_MODES: ReadonlySet<string> = new Set(['off', 'warn', 'strict']);

/**
 * Validates options once, reporting every problem in one error, and returns
 * frozen settings with defaults filled in.
 *
 * @throws PropagationError with code DETOUR_ERR_PROPAGATION_CONFIG
 */
export function resolveConfig(options: PropagationOptions = {}): PropagationConfig {
  const problems: string[] = [];
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) problems.push(`unknown option "${key}"`);
  }

  const headers = (options.headers ?? DEFAULTS.headers).map((h) => String(h).trim().toLowerCase());
  if (headers.length === 0) problems.push('headers: give at least one header name');
  for (const h of headers) {
    if (!HEADER_NAME.test(h) || h.endsWith('-bin') || h.startsWith('grpc-')) {
      problems.push(`headers: "${h}" is not usable; use lower-case letters, digits, "-", "_" or "."`);
    } else if (RESERVED_HEADERS.has(h)) {
      problems.push(`headers: "${h}" is carried by OpenTelemetry already; remove it`);
    }
  }

  const baggageKey = (options.baggageKey ?? DEFAULTS.baggageKey).trim();
  if (baggageKey !== '' && !BAGGAGE_KEY.test(baggageKey)) {
    problems.push(`baggageKey: "${baggageKey}" is not a valid W3C baggage key`);
  }

  const allowHosts = (options.allowHosts ?? DEFAULTS.allowHosts).map((h) => String(h).trim().toLowerCase());
  for (const entry of allowHosts) {
    if (!isAllowHostEntry(entry)) {
      problems.push(`allowHosts: "${entry}" is not a host, ".suffix", "*.suffix", IP, CIDR or "*"`);
    }
  }

  const selfTest = options.selfTest ?? DEFAULTS.selfTest;
  if (!SELF_TEST_MODES.has(selfTest)) problems.push(`selfTest: "${String(selfTest)}" must be off, warn or strict`);

  let outboundProxy: PropagationConfig['outboundProxy'];
  if (options.outboundProxy !== undefined) {
    const { url, hosts = [] } = options.outboundProxy;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed?.protocol !== 'http:' || parsed.port === '') problems.push(`outboundProxy.url: "${url}" is not http://HOST:PORT`);
    const normalized = hosts.map((h) => String(h).trim().toLowerCase());
    for (const entry of normalized) {
      if (entry === '*' || !isAllowHostEntry(entry)) problems.push(`outboundProxy.hosts: "${entry}" is not a host, ".suffix", "*.suffix", IP or CIDR`);
    }
    outboundProxy = Object.freeze({ url, hosts: Object.freeze(normalized) });
  }

  if (problems.length > 0) {
    throw new PropagationError(ERROR_CODES.CONFIG, `invalid propagation settings: ${problems.join('; ')}`);
  }
  return Object.freeze({
    headers: Object.freeze([...new Set(headers)]),
    baggageKey: baggageKey === '' ? undefined : baggageKey,
    allowHosts: Object.freeze(allowHosts),
    selfTest,
    maxValueBytes: DEFAULTS.maxValueBytes,
    selfTestTimeoutMs: DEFAULTS.selfTestTimeoutMs,
    outboundProxy,
  });
}

function isAllowHostEntry(entry: string): boolean {
  if (entry === '*') return true;
  const slash = entry.indexOf('/');
  if (slash !== -1) {
    const family = isIP(entry.slice(0, slash));
    const bits = Number(entry.slice(slash + 1));
    return family !== 0 && Number.isInteger(bits) && bits >= 0 && bits <= (family === 4 ? 32 : 128);
  }
  return isIP(entry) !== 0 || HOST_PATTERN.test(entry);
}
