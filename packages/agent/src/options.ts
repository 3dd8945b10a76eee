import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';

/** Defaults of every tunable, with units in the names. */
export const DEFAULTS = {
  listenHost: '127.0.0.1',
  listenPort: 0,
  /** Largest request head (request line + fields) accepted; more is a 431. */
  maxHeaderBytes: 32 * 1024,
  /** Time a client has to send a complete head once it has started one (or connected); then 408. */
  headerTimeoutMs: 10_000,
  /** Time a keep-alive client connection may sit idle between requests. */
  idleTimeoutMs: 60_000,
  /** Idle pooled app connections are closed sooner than Node's 5 s keepAliveTimeout, so the app rarely closes one under us. */
  upstreamIdleTimeoutMs: 4_000,
  maxIdleUpstreamSockets: 256,
  pingIntervalMs: 1_000,
  pingTimeoutMs: 2_000,
  reconnectInitialMs: 100,
  reconnectMaxMs: 2_000,
} as const;

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /** The service this agent fronts, as named in intercepts. */
  service: string;
  listenHost?: string;
  /** 0 picks a free port. */
  listenPort?: number;
  /** The app behind the agent, `http://host:port`. */
  appUrl: string;
  /** The manager, `http://host:port` (HTTP/2 with prior knowledge). */
  managerUrl: string;
  /** Bearer token for the manager. Never logged. */
  token: string;
  /** pino logger (core `createLogger('agent')`); silent when absent. */
  logger?: Logger;
  /** Defaults to a random id; the manager tells agents apart by it. */
  agentId?: string;
  maxHeaderBytes?: number;
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
  upstreamIdleTimeoutMs?: number;
  maxIdleUpstreamSockets?: number;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
}

/** Options after validation: complete and frozen. */
export interface ResolvedAgentOptions {
  readonly service: string;
  readonly agentId: string;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly app: { readonly host: string; readonly port: number };
  readonly managerUrl: string;
  readonly token: string;
  readonly logger: Logger;
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly maxIdleUpstreamSockets: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
}

const NUMERIC = [
  'listenPort',
  'maxHeaderBytes',
  'headerTimeoutMs',
  'idleTimeoutMs',
  'upstreamIdleTimeoutMs',
  'maxIdleUpstreamSockets',
  'pingIntervalMs',
  'pingTimeoutMs',
  'reconnectInitialMs',
  'reconnectMaxMs',
] as const;

function parseHttpUrl(name: string, value: unknown, problems: string[]): URL | undefined {
  if (typeof value !== 'string') {
    problems.push(`${name} must be a string like http://127.0.0.1:8080`);
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name} ${JSON.stringify(value)} is not a URL`);
    return undefined;
  }
  if (url.protocol !== 'http:') problems.push(`${name} must use http: (got ${url.protocol})`);
  return url;
}

/** Validates once, reporting every problem in one DETOUR_ERR_CONFIG_INVALID. */
export function resolveOptions(options: AgentOptions): ResolvedAgentOptions {
  const problems: string[] = [];
  if (typeof options.service !== 'string' || options.service.length === 0) problems.push('service must be a non-empty string');
  if (typeof options.token !== 'string' || options.token.length === 0) problems.push('token must be a non-empty string');
  const app = parseHttpUrl('appUrl', options.appUrl, problems);
  const manager = parseHttpUrl('managerUrl', options.managerUrl, problems);
  const merged = { ...DEFAULTS, ...stripUndefined(options) };
  for (const key of NUMERIC) {
    const value = merged[key];
    const min = key === 'listenPort' ? 0 : 1;
    if (!Number.isInteger(value) || value < min || (key === 'listenPort' && value > 65535)) problems.push(`${key} must be an integer >= ${min}`);
  }
  if (problems.length > 0) throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `invalid agent options: ${problems.join('; ')}`, { details: { problems } });
  return Object.freeze({
    service: options.service,
    agentId: options.agentId ?? `${options.service}-${randomUUID().slice(0, 8)}`,
    listenHost: merged.listenHost,
    listenPort: merged.listenPort,
    app: Object.freeze({ host: app!.hostname.replace(/^\[|\]$/g, ''), port: Number(app!.port || 80) }),
    managerUrl: manager!.origin,
    token: options.token,
    logger: options.logger ?? pino({ enabled: false }),
    maxHeaderBytes: merged.maxHeaderBytes,
    headerTimeoutMs: merged.headerTimeoutMs,
    idleTimeoutMs: merged.idleTimeoutMs,
    upstreamIdleTimeoutMs: merged.upstreamIdleTimeoutMs,
    maxIdleUpstreamSockets: merged.maxIdleUpstreamSockets,
    pingIntervalMs: merged.pingIntervalMs,
    pingTimeoutMs: merged.pingTimeoutMs,
    reconnectInitialMs: merged.reconnectInitialMs,
    reconnectMaxMs: merged.reconnectMaxMs,
  });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
