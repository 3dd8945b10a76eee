/**
 * Names that cross process boundaries. Every component imports them from here so
 * that agent, manager and daemon can never disagree on a spelling.
 */

/** The header a personal intercept matches by default (telepresence's convention). */
export const DEFAULT_HEADER_NAME = 'x-telepresence-id';

/** Manager API version prefix. */
export const API_PREFIX = '/v1';

/**
 * Relay stream headers (agent → manager → daemon, HTTP/2).
 * The original request's method, path and authority travel as the HTTP/2
 * pseudo-headers, its end-to-end headers as they were; these are added.
 */
export const RELAY_HEADER_INTERCEPT_ID = 'detour-intercept-id';
/**
 * Set by the manager on the 503 it answers when the intercept's developer has no
 * tunnel. Lets an agent tell "developer offline" apart from the developer's own 503.
 */
export const RELAY_HEADER_OFFLINE = 'detour-offline';

/** Session key header: proves which developer a call comes from. */
export const SESSION_KEY_HEADER = 'detour-session-key';

/** `Upgrade:` token the daemon asks for when it opens its tunnel (RFC 9110 §7.8). */
export const TUNNEL_UPGRADE_TOKEN = 'detour-tunnel';

/** Manager endpoints. `:id` segments are URL-encoded ids. */
export const API_PATHS = {
  info: `${API_PREFIX}/info`,
  sessions: `${API_PREFIX}/sessions`,
  session: (id: string) => `${API_PREFIX}/sessions/${encodeURIComponent(id)}`,
  heartbeat: (id: string) => `${API_PREFIX}/sessions/${encodeURIComponent(id)}/heartbeat`,
  tunnel: `${API_PREFIX}/tunnel`,
  services: `${API_PREFIX}/services`,
  intercepts: `${API_PREFIX}/intercepts`,
  intercept: (id: string) => `${API_PREFIX}/intercepts/${encodeURIComponent(id)}`,
  /** Long-lived HTTP/2 stream of NDJSON {@link RuleSet} snapshots; query: `AgentWatchQuerySchema` (service, agentId, listen, protocol). */
  agentWatch: `${API_PREFIX}/agents/watch`,
  agentAck: (agentId: string) => `${API_PREFIX}/agents/${encodeURIComponent(agentId)}/ack`,
  /** Opens an agent's data session (HTTP/2, the session's first stream): answered 204 once the session may carry that agent's relay streams. */
  agentDataSession: (agentId: string) => `${API_PREFIX}/agents/${encodeURIComponent(agentId)}/data-session`,
  /** Where an agent started with `--env-file` posts its app's environment ({@link AgentEnvironment}), on its session, before its first ack. */
  agentEnvironment: (agentId: string) => `${API_PREFIX}/agents/${encodeURIComponent(agentId)}/environment`,
  /** The environment an agent of the service published ({@link ServiceEnvironment}); a developer's session key. */
  serviceEnvironment: (service: string) => `${API_PREFIX}/services/${encodeURIComponent(service)}/environment`,
  /** `detour trace`: runs one propagation probe and answers with its {@link TraceResult}. */
  traces: `${API_PREFIX}/traces`,
  /** Where agents report what they saw while a probe was active (HTTP/2, on their session). */
  traceSightings: (traceId: string) => `${API_PREFIX}/traces/${encodeURIComponent(traceId)}/sightings`,
  /** `detour gather-logs`: the manager's and its agents' recent log lines ({@link RecentLogs}). */
  logs: `${API_PREFIX}/logs`,
  /** Where an agent posts its recent log lines (NDJSON) when the watch stream asked for them (HTTP/2, on its session). */
  /** Previews of one intercept: POST creates one ({@link PreviewCreate}). */
  interceptPreviews: (interceptId: string) => `${API_PREFIX}/intercepts/${encodeURIComponent(interceptId)}/previews`,
  interceptPreview: (interceptId: string, previewId: string) => `${API_PREFIX}/intercepts/${encodeURIComponent(interceptId)}/previews/${encodeURIComponent(previewId)}`,
  /** The calling session's previews. */
  previews: `${API_PREFIX}/previews`,
  /** The gateway's lookup of a preview ({@link PreviewRoute}); token only. */
  previewRoute: (previewId: string) => `${API_PREFIX}/previews/${encodeURIComponent(previewId)}/route`,
  agentLogs: (agentId: string, requestId: string) => `${API_PREFIX}/agents/${encodeURIComponent(agentId)}/logs/${encodeURIComponent(requestId)}`,
  /** Another identity's intercept by its owner and name: how an admin leaves it. */
  ownedIntercept: (owner: string, name: string) => `${API_PREFIX}/owners/${encodeURIComponent(owner)}/intercepts/${encodeURIComponent(name)}`,
  /** Identities and their tokens (admins; `--auth-file` only). */
  tokens: `${API_PREFIX}/tokens`,
  token: (name: string) => `${API_PREFIX}/tokens/${encodeURIComponent(name)}`,
  /** The audit log (admins); query `since` (epoch ms). */
  audit: `${API_PREFIX}/audit`,
} as const;

/**
 * Set on a relay stream whose request reached the agent over HTTP/2 (h2c, gRPC,
 * TLS with ALPN h2), value `h2`: the daemon then speaks HTTP/2 to the local app,
 * so trailers, streaming and RST_STREAM keep their meaning end to end.
 */
export const RELAY_HEADER_UPSTREAM_PROTOCOL = 'detour-upstream-protocol';

/**
 * The fields the relay itself sets and reads, and so the only ones a caller
 * must never smuggle in: the agent drops them from every request, HTTP/1.1 and
 * HTTP/2 alike, before it reaches the app or a developer, and from every
 * response; the daemon drops them before the local app. Other `detour-*` names
 * carry no meaning to detour and pass like any field. An exact set, not a
 * prefix, so that the HTTP/1.1 codec classifies them by length and bytes as it
 * does hop-by-hop names, at no cost to a head without them.
 */
export const RELAY_OWNED_HEADERS: readonly string[] = Object.freeze([RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_UPSTREAM_PROTOCOL, RELAY_HEADER_OFFLINE]);

/**
 * What an agent's port speaks (`--protocol`). On both relay legs a connection
 * to the developer's local app is a plain CONNECT stream (RFC 9113 §8.5) whose
 * `:authority` is `<service>:<port>`: the agent's kept-alive HTTP/1.1
 * connections, and each connection of a raw TCP (`--mechanism tcp`) intercept.
 */
export const AGENT_PROTOCOLS = ['http1', 'h2c', 'auto', 'tcp'] as const;
export type AgentProtocol = (typeof AGENT_PROTOCOLS)[number];

/**
 * Preview URLs (issue 12). The cookie a share link sets, the query parameter
 * that does the same on any URL, and the gateway's own paths, which are never
 * forwarded.
 */
export const PREVIEW_COOKIE = 'detour-preview';
export const PREVIEW_QUERY_PARAM = 'detour-preview';
export const PREVIEW_PATH_PREFIX = '/_detour/preview/';
export const PREVIEW_EXIT_PATH = '/_detour/preview/exit';

/** RFC 9110 §5.6.2 `token`: a method, a field name, a coding name. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
