import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { DetourError } from '@detour/core';
import type { LogRing, Logger } from '@detour/core';
import { AGENT_PROTOCOLS, AgentEnvironmentSchema } from '@detour/protocol';
import { managerEndpoint } from '@detour/transport';
import type { ManagerEndpoint } from '@detour/transport';
import type { AgentEnvironment, AgentProtocol } from '@detour/protocol';

/** Defaults of every tunable, with units in the names. */
export const DEFAULTS = {
  listenHost: '127.0.0.1',
  listenPort: 0,
  /** Largest request head (request line + fields; an HTTP/2 head measured as its HTTP/1.1 form) accepted; more is a 431. */
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
  /** How long connections accepted at start-up wait for the first rule set before going by no rules (to the app). */
  firstRulesTimeoutMs: 5_000,
  /** What the listener expects: `auto` sniffs the first bytes of each connection. */
  protocol: 'auto',
  /** The metrics listener has no authentication: loopback unless told otherwise. */
  metricsHost: '127.0.0.1',
} as const;

/** Options of {@link startAgent}. */
export interface AgentOptions {
  /** The service this agent fronts, as named in intercepts. */
  service: string;
  listenHost?: string;
  /** 0 picks a free port. */
  listenPort?: number;
  /** The app behind the agent, `http://host:port`, or `https://host:port` to re-encrypt towards it. */
  appUrl: string;
  /** How the listener reads each connection (default `auto`: sniff HTTP/2 preface vs HTTP/1.x request line). */
  protocol?: AgentProtocol;
  /** PEM certificate chain and key of the service: the agent terminates TLS (ALPN h2, http/1.1). Both or neither. */
  tlsCert?: string | Buffer;
  tlsKey?: string | Buffer;
  /** PEM CA bundle that verifies an `https://` app's certificate (default: the system's CAs). */
  appCa?: string | Buffer;
  /** The manager, `http://host:port` (HTTP/2 with prior knowledge) or `https://host:port` (ALPN h2, verified). */
  managerUrl: string;
  /** PEM CA bundle that verifies an `https://` manager (default: the system's CAs). */
  managerCa?: Buffer;
  /** PEM client certificate and key for a manager run with `--client-ca` (mTLS). Both or neither. */
  clientCert?: Buffer;
  clientKey?: Buffer;
  /** Allow the token over cleartext to a manager that is not on loopback (`--insecure`). */
  insecure?: boolean;
  /** Bearer token for the manager. Never logged. */
  token: string;
  /** pino logger (core `createLogger('agent')`); silent when absent. */
  logger?: Logger;
  /** The ring `logger` also writes to; its lines are what the manager gets for `detour gather-logs` (none when absent). */
  logRing?: LogRing;
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
  firstRulesTimeoutMs?: number;
  /** Serve `GET /metrics` (Prometheus text format) on a listener of its own at this port (0 picks one); absent: no listener. */
  metricsPort?: number;
  /** Address the metrics listener binds (default 127.0.0.1). */
  metricsHost?: string;
  /**
   * The environment the app was started with (plain-process mode, `detour agent --env-file`):
   * sent to the manager on the agent's session so that `detour intercept --env-file` can give
   * the laptop copy the same. Values are secrets: never logged. Absent: nothing is published.
   */
  environment?: ReadonlyArray<{ name: string; value: string }>;
}

/** Where unmatched traffic goes. `tls`: re-encrypt, verifying the app's certificate for `servername`. */
export interface AppTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly servername: string | undefined; readonly ca: string | Buffer | undefined } | undefined;
}

/** Options after validation: complete and frozen. */
export interface ResolvedAgentOptions {
  readonly service: string;
  readonly agentId: string;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly app: AppTarget;
  readonly protocol: AgentProtocol;
  /** Set when the agent terminates TLS. */
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer } | undefined;
  /** Where the manager is and how it is verified (transport's `managerEndpoint`). */
  readonly manager: ManagerEndpoint;
  readonly token: string;
  readonly logger: Logger;
  readonly logRing: LogRing | undefined;
  readonly maxHeaderBytes: number;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly maxIdleUpstreamSockets: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly firstRulesTimeoutMs: number;
  /** Set when the metrics listener runs. */
  readonly metrics: { readonly host: string; readonly port: number } | undefined;
  /** What the agent publishes of its app's environment; undefined: nothing. */
  readonly environment: AgentEnvironment | undefined;
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
  'firstRulesTimeoutMs',
] as const;

function parseHttpUrl(name: string, value: unknown, problems: string[], allowHttps = false): URL | undefined {
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
  if (url.protocol !== 'http:' && !(allowHttps && url.protocol === 'https:')) problems.push(`${name} must use http:${allowHttps ? ' or https:' : ''} (got ${url.protocol})`);
  return url;
}

/** Validates once, reporting every problem in one DETOUR_ERR_CONFIG_INVALID. */
export function resolveOptions(options: AgentOptions): ResolvedAgentOptions {
  const problems: string[] = [];
  if (typeof options.service !== 'string' || options.service.length === 0) problems.push('service must be a non-empty string');
  if (typeof options.token !== 'string' || options.token.length === 0) problems.push('token must be a non-empty string');
  const app = parseHttpUrl('appUrl', options.appUrl, problems, true);
  const protocol = options.protocol ?? DEFAULTS.protocol;
  if (!AGENT_PROTOCOLS.includes(protocol)) problems.push(`protocol must be one of ${AGENT_PROTOCOLS.join(', ')}`);
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) problems.push('tlsCert and tlsKey go together: give both or neither');
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    try {
      createSecureContext({ cert: options.tlsCert, key: options.tlsKey });
    } catch (err) {
      problems.push(`tlsCert/tlsKey are not a usable PEM certificate and key: ${(err as Error).message}`);
    }
  }
  if (options.tlsCert !== undefined && protocol === 'tcp') problems.push('TLS termination needs an HTTP protocol (http1, h2c or auto), not tcp');
  if (options.appCa !== undefined && app !== undefined && app.protocol !== 'https:') problems.push('appCa verifies an https:// app; appUrl is not https');
  // Its own errors (a cleartext token, a bad TLS flag) are the user's and say which flag; they stop here.
  const manager = managerEndpoint(options.managerUrl, { ca: options.managerCa, cert: options.clientCert, key: options.clientKey, insecure: options.insecure });
  const { metricsPort } = options;
  if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)) problems.push('metricsPort must be an integer from 0 to 65535');
  if (options.metricsHost !== undefined && metricsPort === undefined) problems.push('metricsHost needs metricsPort: no metrics listener runs without a port');
  const environment = options.environment === undefined ? undefined : AgentEnvironmentSchema.safeParse({ variables: options.environment });
  if (environment?.success === false) problems.push(...environmentProblems(environment.error.issues));
  const merged = { ...DEFAULTS, ...stripUndefined(options) };
  for (const key of NUMERIC) {
    const value = merged[key];
    // 0 means "at once" for these two: a free port, and no wait for a first rule set.
    const min = key === 'listenPort' || key === 'firstRulesTimeoutMs' ? 0 : 1;
    if (!Number.isInteger(value) || value < min || (key === 'listenPort' && value > 65535)) problems.push(`${key} must be an integer >= ${min}`);
  }
  if (problems.length > 0) throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `invalid agent options: ${problems.join('; ')}`, { details: { problems } });
  return Object.freeze({
    service: options.service,
    agentId: options.agentId ?? `${options.service}-${randomUUID().slice(0, 8)}`,
    listenHost: merged.listenHost,
    listenPort: merged.listenPort,
    app: appTarget(app!, options.appCa),
    protocol,
    tls: options.tlsCert === undefined ? undefined : Object.freeze({ cert: options.tlsCert, key: options.tlsKey! }),
    manager,
    token: options.token,
    logger: options.logger ?? pino({ enabled: false }),
    logRing: options.logRing,
    maxHeaderBytes: merged.maxHeaderBytes,
    headerTimeoutMs: merged.headerTimeoutMs,
    idleTimeoutMs: merged.idleTimeoutMs,
    upstreamIdleTimeoutMs: merged.upstreamIdleTimeoutMs,
    maxIdleUpstreamSockets: merged.maxIdleUpstreamSockets,
    pingIntervalMs: merged.pingIntervalMs,
    pingTimeoutMs: merged.pingTimeoutMs,
    reconnectInitialMs: merged.reconnectInitialMs,
    reconnectMaxMs: merged.reconnectMaxMs,
    firstRulesTimeoutMs: merged.firstRulesTimeoutMs,
    metrics: metricsPort === undefined ? undefined : Object.freeze({ host: merged.metricsHost, port: metricsPort }),
    environment: environment?.success === true ? Object.freeze(environment.data) : undefined,
  });
}

/** The issues name a variable by its index and say what is wrong; they never carry a value. */
function environmentProblems(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string[] {
  return issues.map((issue) => `environment${issue.path.slice(1).map((p) => `[${String(p)}]`).join('')}: ${issue.message}`);
}

/** Validates an environment to publish, as {@link resolveOptions} does at start. */
export function validEnvironment(variables: ReadonlyArray<{ name: string; value: string }>): AgentEnvironment {
  const parsed = AgentEnvironmentSchema.safeParse({ variables });
  if (!parsed.success) {
    const problems = environmentProblems(parsed.error.issues);
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `invalid agent environment: ${problems.join('; ')}`, { details: { problems } });
  }
  return Object.freeze(parsed.data);
}

function appTarget(url: URL, ca: string | Buffer | undefined): AppTarget {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const https = url.protocol === 'https:';
  // SNI carries host names only (RFC 6066 §3); an IP app is verified against the IP in its certificate.
  const tls = https ? Object.freeze({ servername: isIP(host) === 0 ? host : undefined, ca }) : undefined;
  return Object.freeze({ host, port: Number(url.port || (https ? 443 : 80)), tls });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
