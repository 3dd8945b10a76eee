/**
 * What the daemon's dashboard API sends the browser. Plain data shared by the
 * daemon (which captures and serves it) and the views (which show it).
 */

/** Header fields in the order they were sent, names lower-cased. */
export type Fields = Array<[string, string]>;

/** The first bytes of a body, and how many there were in all. */
export interface CapturedBody {
  /** At most `CAPTURE_BODY_LIMIT_BYTES`, base64. */
  base64: string;
  /** Every byte seen so far, kept or not. */
  bytes: number;
  /** Whether bytes past the kept prefix were passed on without being kept. */
  truncated: boolean;
}

/** Bytes of each body the inspector keeps (the rest is streamed through, uncounted but for its length). */
export const CAPTURE_BODY_LIMIT_BYTES = 64 * 1024;

export type ExchangeProtocol = 'http/1.1' | 'h2' | 'grpc';
export type ExchangeState = 'pending' | 'complete' | 'error';

/** One request routed to this laptop and what the local app answered. */
export interface CapturedExchange {
  /** Increasing per daemon: newer requests have larger ids. */
  id: number;
  interceptId: string;
  /** The intercept's name and service when the daemon still knows them. */
  interceptName?: string;
  service?: string;
  protocol: ExchangeProtocol;
  /** Epoch ms when the request head arrived. */
  startedAt: number;
  durationMs?: number;
  method: string;
  /** The request-target (path and query). */
  path: string;
  authority?: string;
  requestHeaders: Fields;
  requestBody: CapturedBody;
  requestTrailers?: Fields;
  state: ExchangeState;
  status?: number;
  responseHeaders?: Fields;
  responseBody?: CapturedBody;
  responseTrailers?: Fields;
  /** Why the exchange did not complete (reset, unreachable app, unparseable bytes). */
  error?: string;
  /**
   * For an intercept with `--fallthrough-status`: `to-app` when this answer had a
   * listed status, so the agent dropped it and the app answered the caller;
   * `ineligible` when the request's body was too large to replay (the agent said
   * so in `detour-fallthrough`), so this answer was the caller's whatever it was.
   */
  fallthrough?: 'to-app' | 'ineligible';
  /** A `--mode wiretap` copy: the status the caller really got (from the app), beside this laptop's discarded answer. */
  wiretap?: { appStatus: number };
}

/** Where a replay goes: the local app, or the environment through one agent of the service without the routing header. */
export type ReplayTarget = 'local' | 'environment';

/** A request to send again, as edited (or not) in the dashboard. */
export interface ReplayRequest {
  target: ReplayTarget;
  interceptId: string;
  protocol: ExchangeProtocol;
  method: string;
  path: string;
  headers: Fields;
  bodyBase64: string;
}

/** What a replay got back. */
export interface ReplayAnswer {
  target: ReplayTarget;
  /** The origin it was sent to, e.g. `http://127.0.0.1:8080`. */
  origin: string;
  status: number;
  headers: Fields;
  body: CapturedBody;
  trailers?: Fields;
  durationMs: number;
  /** Header fields removed before sending (the routing header for the environment). */
  removedHeaders: string[];
  /** A caveat worth showing, e.g. an intercept that matches without a header. */
  note?: string;
}

/** What the dashboard says about the daemon and its own intercepts. */
export interface DashboardOverview {
  /** The daemon's detour version. */
  version: string;
  name: string;
  header: { name: string; value: string };
  manager: string;
  connection: { state: string; since: number; lastError?: string };
  capture: { maxExchanges: number; maxBytes: number };
}

/** An intercept as the manager lists it (the fields the views use). */
export interface EnvironmentIntercept {
  id: string;
  name: string;
  service: string;
  owner: { name: string; headerValue: string };
  headers: Array<{ name: string; op: 'equals' | 'regex'; value: string }>;
  paths: Array<{ op: 'equals' | 'prefix' | 'regex'; value: string }>;
  global: boolean;
  onDisconnect: 'fallback' | 'fail' | 'hold';
  holdMs?: number;
  mechanism: 'http' | 'tcp';
  localPort: number;
  online: boolean;
  createdAt: number;
}

export interface EnvironmentService {
  name: string;
  agents: Array<{ id: string; listen: string; protocol: string; connectedAt: number }>;
  intercepts: EnvironmentIntercept[];
}

/** One of this daemon's intercepts: what was asked, and the manager's view once accepted. */
export interface MyIntercept {
  spec: Omit<EnvironmentIntercept, 'owner' | 'online' | 'createdAt'>;
  intercept?: EnvironmentIntercept;
  error?: string;
}

/** A preview URL of one of this developer's intercepts, as the manager lists it. */
export interface PreviewView {
  /** Absent for a preview restored from a store, which keeps only a hash of the id. */
  id?: string;
  /** The id's first characters, safe to show. */
  hint: string;
  interceptId: string;
  interceptName: string;
  service: string;
  entry: { kind: 'service'; service: string } | { kind: 'url'; url: string };
  createdAt: number;
  expiresAt: number;
  url?: string;
  shareUrl?: string;
}

/** The dashboard's picture of the environment, pushed again whenever it changes. */
export interface EnvironmentView {
  overview: DashboardOverview;
  services: EnvironmentService[];
  mine: MyIntercept[];
  /** The previews of `mine`. */
  previews: PreviewView[];
  /** Why the services could not be listed (the manager is unreachable); `services` is then the last known list. */
  managerError?: string;
}

/** Server-sent events of `/api/events`. */
export type DashboardEvent =
  | { type: 'reset'; exchanges: CapturedExchange[]; environment: EnvironmentView | undefined }
  | { type: 'exchange'; exchange: CapturedExchange }
  | { type: 'dropped'; ids: number[] }
  | { type: 'environment'; environment: EnvironmentView }
  | { type: 'cleared' };
