import type { Intercept, InterceptRequest, PreviewEntry, SessionInfo, SignedValue } from '@detour/protocol';

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
  /** The manager's and agents' recent logs (`detour gather-logs`). */
  logs: '/logs',
} as const;

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
  manager: { url: string; version?: string };
  connection: { state: ConnectionState; lastError?: string; since: number };
  name: string;
  /** `value`: the developer's own value (what `auto` matches); `signedValue`: what to send when the manager signs it (`--signed-keys`). */
  header: { name: string; value: string; signedValue?: SignedValue };
  session?: SessionInfo;
  intercepts: LocalIntercept[];
}

/** What `detour intercept` sends; the daemon adds the id. */
export type InterceptAsk = Omit<InterceptRequest, 'id'>;

/** What `detour preview create` sends: the intercept by its name, as the CLI knows it. */
export interface PreviewAsk {
  intercept: string;
  entry?: PreviewEntry;
  ttlMs: number;
}
