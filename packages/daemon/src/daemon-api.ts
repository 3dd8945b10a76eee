import type { EgressNames, Intercept, InterceptRequest, PreviewEntry, SessionInfo, SignedValue } from '@detour/protocol';

/** The daemon's local API, spoken over its Unix socket by the CLI. */
export const DAEMON_PATHS = {
  status: '/status',
  services: '/services',
  intercepts: '/intercepts',
  intercept: (name: string) => `/intercepts/${encodeURIComponent(name)}`,
  quit: '/quit',
  traces: '/traces',
  /** Your previews: GET lists, POST creates ({@link PreviewAsk}). */
  previews: '/previews',
  preview: (ref: string) => `/previews/${encodeURIComponent(ref)}`,
  /** What the service's agents published of their app's environment (`intercept --env-file` without a cluster). */
  environment: (service: string) => `/services/${encodeURIComponent(service)}/environment`,
  /** The manager's and agents' recent logs (`detour gather-logs`). */
  logs: '/logs',
  /** Another identity's intercept (`detour leave NAME --owner WHO`, admins). */
  ownedIntercept: (owner: string, name: string) => `/owners/${encodeURIComponent(owner)}/intercepts/${encodeURIComponent(name)}`,
  /** `detour token` and `detour audit`: passed to the manager with this daemon's token. */
  tokens: '/tokens',
  token: (name: string) => `/tokens/${encodeURIComponent(name)}`,
  audit: '/audit',
  /** Starts the dashboard (or returns the running one): POST `DashboardStart`, answers `DashboardInfo`; DELETE stops it. */
  dashboard: '/dashboard',
} as const;

/** What `detour dashboard` asks for; absent fields keep the defaults (or the running dashboard's settings). */
export interface DashboardStart {
  port?: number;
  maxExchanges?: number;
  maxBytes?: number;
}

export interface DashboardInfo {
  /** With the token: open it once, the browser then holds a cookie. */
  url: string;
  port: number;
  maxExchanges: number;
  maxBytes: number;
  /** Whether this call started it (false: it was running already). */
  started: boolean;
}

/** grpc-js style connectivity states of the daemon's link to the manager. */
export type ConnectionState = 'connecting' | 'ready' | 'transient-failure' | 'shutdown';

export interface LocalIntercept {
  /** What the developer asked for; re-asserted after every reconnect. */
  spec: InterceptRequest;
  /** The manager's view, once it has accepted the spec. */
  intercept?: Intercept;
  /** Why re-asserting failed after a reconnect (e.g. someone else took the route meanwhile). */
  error?: string;
}

export interface DaemonStatus {
  daemon: { pid: number; version: string; home: string };
  /** `egress`: the manager's outbound name policy, once the daemon has read it (managers from before it send none). */
  manager: { url: string; version?: string; egress?: EgressNames; route: ManagerRouteStatus };
  connection: { state: ConnectionState; lastError?: string; since: number };
  /** The local proxy `detour run` points commands at (HTTP CONNECT, absolute-form HTTP and SOCKS5, on loopback). */
  outbound: { url: string; socks: string; lastError?: { at: number; message: string } };
  name: string;
  /** `value`: the developer's own value (what `auto` matches); `signedValue`: what to send when the manager signs it (`--signed-keys`). */
  header: { name: string; value: string; signedValue?: SignedValue };
  session?: SessionInfo;
  intercepts: LocalIntercept[];
}

/** How the daemon reaches the manager: its URL as given, or a port-forward through the Kubernetes API server. */
export type ManagerRouteStatus =
  | { kind: 'direct' }
  | { kind: 'port-forward'; context: string; namespace: string; service: string; pod?: string; lastError?: string };

/** What `detour intercept` sends; the daemon adds the id. */
export type InterceptAsk = Omit<InterceptRequest, 'id'>;

/** What `detour preview create` sends: the intercept by its name, as the CLI knows it. */
export interface PreviewAsk {
  intercept: string;
  entry?: PreviewEntry;
  ttlMs: number;
}
