import type { PropagationOptions, SelfTestMode } from './options.js';

/**
 * Every environment variable the preload reads. Only the entry points call
 * `optionsFromEnv`, so library users who call `register()` are not surprised
 * by ambient settings.
 */
export const ENVIRONMENT_VARIABLES = Object.freeze({
  DETOUR_PROPAGATE_HEADERS: 'comma-separated header names (default x-telepresence-id)',
  DETOUR_PROPAGATE_BAGGAGE_KEY: 'also mirror the first header into this W3C baggage key',
  DETOUR_PROPAGATE_ALLOW_HOSTS: 'comma-separated extra hosts, suffixes, IPs or CIDRs allowed to receive the headers',
  DETOUR_PROPAGATION_SELF_TEST: 'off | warn (default) | strict',
  DETOUR_PROPAGATION_DEBUG: '1 to log each propagation decision to stderr',
  DETOUR_OUTBOUND_PROXY: 'http://127.0.0.1:PORT: send fetch and http calls to environment names through this proxy (set by `detour run`)',
  DETOUR_OUTBOUND_HOSTS: 'comma-separated environment names beyond single-label and *.svc ones (names, suffixes, IPs, CIDRs)',
});

/** Reads the preload's settings; validation happens later in `resolveConfig`. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): PropagationOptions {
  const options: PropagationOptions = {};
  const headers = list(env['DETOUR_PROPAGATE_HEADERS']);
  if (headers !== undefined) options.headers = headers;
  const baggageKey = env['DETOUR_PROPAGATE_BAGGAGE_KEY'];
  if (baggageKey !== undefined && baggageKey !== '') options.baggageKey = baggageKey;
  const allowHosts = list(env['DETOUR_PROPAGATE_ALLOW_HOSTS']);
  if (allowHosts !== undefined) options.allowHosts = allowHosts;
  const selfTest = env['DETOUR_PROPAGATION_SELF_TEST'];
  if (selfTest !== undefined && selfTest !== '') options.selfTest = selfTest as SelfTestMode;
  const proxy = env['DETOUR_OUTBOUND_PROXY'];
  if (proxy !== undefined && proxy !== '') options.outboundProxy = { url: proxy, hosts: list(env['DETOUR_OUTBOUND_HOSTS']) ?? [] };
  return options;
}

/** True when DETOUR_PROPAGATION_DEBUG asks for decision logging. */
export function debugFromEnv(env: NodeJS.ProcessEnv): boolean {
  const value = env['DETOUR_PROPAGATION_DEBUG'];
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}
