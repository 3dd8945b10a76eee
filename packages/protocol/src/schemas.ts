import { z } from 'zod';
import { AGENT_PROTOCOLS } from './wire.js';

/**
 * The API's shapes, validated on both sides of every call. zod is this package's
 * one runtime dependency: the schemas *are* the wire contract, so they live with it.
 */

/** RFC 9110 §5.6.2 token (`HTTP_TOKEN` in wire.ts) in lower case: rule sets carry names as agents look them up. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

export const HeaderMatcherSchema = z.strictObject({
  /** Lower-case header name. */
  name: z.string().min(1).max(256).regex(HEADER_NAME, 'header name must be an RFC 9110 token in lower case'),
  /** `equals`: the value is compared exactly. `regex`: RE2 syntax, must match the whole value. */
  op: z.enum(['equals', 'regex']),
  value: z.string().max(4096),
  /**
   * Set by a manager run with `--signed-keys` on the `equals` matcher of a developer's own
   * value: a request matches only with that value signed (`<value>.<expiry>.<keyId>.<mac>`,
   * see core `routing-key.ts`) under a key of the rule set's `routingKeys`; the bare value,
   * a forged or an expired one goes to the app. Agents older than this field reject the rule set.
   */
  signed: z.literal(true).optional(),
});
export type HeaderMatcher = z.infer<typeof HeaderMatcherSchema>;

export const PathMatcherSchema = z.strictObject({
  /** Compared against the request path without its query string. */
  op: z.enum(['equals', 'prefix', 'regex']),
  value: z.string().min(1).max(4096),
});
export type PathMatcher = z.infer<typeof PathMatcherSchema>;

/**
 * How an intercept takes traffic: `http` decides per request (or per upgraded
 * connection); `tcp` takes whole connections of a raw TCP port (global only).
 */
export const MechanismSchema = z.enum(['http', 'tcp']);
export type Mechanism = z.infer<typeof MechanismSchema>;

/**
 * What a matched request gets while its developer is offline: `fallback` → the
 * app; `fail` → the offline answer; `hold` → it waits up to `holdMs` for the
 * developer to come back, then goes to the app.
 */
export const OnDisconnectSchema = z.enum(['fallback', 'fail', 'hold']);
export type OnDisconnect = z.infer<typeof OnDisconnectSchema>;

/** How long a `hold` request waits when the intercept names no `holdMs` (daemons may send none). */
export const DEFAULT_HOLD_MS = 10_000;
/** The longest hold accepted: past a few minutes a caller has given up anyway, and held requests take memory. */
export const MAX_HOLD_MS = 10 * 60_000;
/** The shortest hold accepted: less is no wait at all. */
export const MIN_HOLD_MS = 100;

/** `--fallthrough-body-limit` when none is given: request bodies up to this are buffered for replay. */
export const DEFAULT_FALLTHROUGH_BODY_LIMIT_BYTES = 1024 * 1024;
/** The largest buffer one request may take at the agent for a replay. */
export const MAX_FALLTHROUGH_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * Partial local service (`--fallthrough-status`): a matched request whose local
 * answer has one of `statuses` (for gRPC, a trailers-only `grpc-status` 12,
 * UNIMPLEMENTED, counts as 501) is replayed to the app, whose answer the caller
 * gets. Only requests whose body is at most `bodyLimitBytes` can be replayed.
 */
export const FallthroughSchema = z.strictObject({
  statuses: z.array(z.number().int().min(200).max(599)).min(1).max(16),
  bodyLimitBytes: z.number().int().min(0).max(MAX_FALLTHROUGH_BODY_LIMIT_BYTES),
});
export type Fallthrough = z.infer<typeof FallthroughSchema>;

/**
 * `intercept` (absent means it too): matched requests go to the laptop.
 * `wiretap`: they are answered by the app as if unmatched, and a bounded copy
 * goes to the laptop, whose answer is discarded. Wiretaps never conflict with
 * other intercepts or wiretaps, and are never global.
 */
export const InterceptModeSchema = z.enum(['intercept', 'wiretap']);
export type InterceptMode = z.infer<typeof InterceptModeSchema>;

const ID = z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'ids are letters, digits, ".", "_" and "-"');
const NAME_PATTERN = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;
const NAME = z.string().min(1).max(63).regex(NAME_PATTERN, 'names are lower-case letters, digits, ".", "_" and "-"');

/** What a daemon asks the manager to create. The daemon picks the id so that it can re-assert the same intercept after a manager restart. */
export const InterceptRequestSchema = z.strictObject({
  id: ID,
  name: NAME,
  service: NAME,
  headers: z.array(HeaderMatcherSchema).max(32),
  paths: z.array(PathMatcherSchema).max(32),
  global: z.boolean(),
  onDisconnect: OnDisconnectSchema,
  /** How long a request waits under `hold` (read only then); absent: DEFAULT_HOLD_MS. */
  holdMs: z.number().int().min(MIN_HOLD_MS).max(MAX_HOLD_MS).optional(),
  mode: InterceptModeSchema.optional(),
  /** Absent: the laptop's answer is always the caller's. */
  fallthrough: FallthroughSchema.optional(),
  /** Daemons from before raw TCP support send none: they mean `http`. */
  mechanism: MechanismSchema.default('http'),
  /** The developer's local port; informational for `list`. */
  localPort: z.number().int().min(1).max(65535),
});
export type InterceptRequest = z.infer<typeof InterceptRequestSchema>;

export const OwnerSchema = z.strictObject({
  sessionId: ID,
  /** The developer's name, as given to `detour connect --name`. */
  name: z.string(),
  /** The developer's value for the default header. */
  headerValue: z.string(),
});
export type Owner = z.infer<typeof OwnerSchema>;

export const InterceptSchema = z.strictObject({
  ...InterceptRequestSchema.shape,
  owner: OwnerSchema,
  /** Epoch ms when the manager first accepted it. */
  createdAt: z.number(),
  /** Manager-wide acceptance order; breaks ties when `createdAt` is equal. */
  sequence: z.number().int(),
  /** Whether the owner's tunnel is up. When false, `onDisconnect` applies. */
  online: z.boolean(),
});
export type Intercept = z.infer<typeof InterceptSchema>;

/** A value safe to carry in a header and to compare byte for byte: 1–256 visible ASCII characters. */
const HEADER_VALUE = z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/, 'header values are 1–256 visible ASCII characters');

/**
 * A propagation probe in progress (`detour trace`). While one is listed in a rule
 * set, agents capture its header and `traceparent` and report the requests they
 * see; with none listed they do no extra work.
 */
export const ProbeSchema = z.strictObject({
  id: ID,
  /** Lower-case name of the header the probe value travels in. */
  header: z.string().min(1).max(256).regex(HEADER_NAME),
  value: HEADER_VALUE,
  /** The trace id of the probe's W3C `traceparent` (32 lower-case hex digits). */
  traceId: z.string().regex(/^[0-9a-f]{32}$/),
  /** Epoch ms after which agents stop watching for it. */
  until: z.number(),
});
export type Probe = z.infer<typeof ProbeSchema>;

/** One HMAC-SHA256 key of the routing-key ring: `id` appears in the values it signed. */
export const RoutingKeySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, 'key ids are 1–16 base64url characters'),
  /** 32 random bytes, base64url. */
  secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a key secret is 32 bytes in base64url'),
});
export type RoutingKey = z.infer<typeof RoutingKeySchema>;

/** A developer's signed value (`--signed-keys`): what to send in the header, and until when (epoch ms) agents accept it. */
export const SignedValueSchema = z.strictObject({
  value: z.string().min(1).max(256),
  expiresAt: z.number(),
});
export type SignedValue = z.infer<typeof SignedValueSchema>;

/** One NDJSON line of the agent watch stream: the whole rule set of a service. */
export const RuleSetSchema = z.strictObject({
  service: z.string(),
  /** Increases on every change of the service's intercepts (including online state) and of its probes. */
  version: z.number().int(),
  intercepts: z.array(InterceptSchema),
  /** Active propagation probes; absent when none runs. */
  probes: z.array(ProbeSchema).max(16).optional(),
  /**
   * The keys signed matchers are verified with (`--signed-keys`): the current one and those
   * retired less than a value's lifetime ago. Secret: sent only on the authenticated watch
   * stream, never logged. Absent when the manager signs nothing.
   */
  routingKeys: z.array(RoutingKeySchema).max(16).optional(),
});
export type RuleSet = z.infer<typeof RuleSetSchema>;

/** What `detour trace` asks the manager to do. Without `value`, the manager picks a unique one. */
export const TraceRequestSchema = z.strictObject({
  service: NAME,
  /** Request path of the probe, query included. */
  path: z.string().min(1).max(4096).regex(/^\/[\x21-\x7e]*$/, 'a path starts with "/" and has no spaces'),
  header: z.string().min(1).max(256).regex(HEADER_NAME),
  value: HEADER_VALUE.optional(),
});
export type TraceRequest = z.infer<typeof TraceRequestSchema>;

/**
 * How an agent tied a request to a probe: `header` — the probe value arrived;
 * `traceparent` — the header is missing but the W3C trace id is the probe's;
 * `none` — neither (a request the agent saw while the probe ran; the manager
 * decides from its timing whether it was the probe's, see trace.ts).
 */
export const SightingEvidenceSchema = z.enum(['header', 'traceparent', 'none']);
export type SightingEvidence = z.infer<typeof SightingEvidenceSchema>;

/** One request an agent saw while a probe was active, sent when its exchange ended. */
export const SightingSchema = z.strictObject({
  agentId: ID,
  service: z.string().min(1).max(63),
  /** The request path without its query string. */
  path: z.string().max(4096),
  evidence: SightingEvidenceSchema,
  /** Epoch ms (the agent's clock) when the head was parsed and when the response ended. */
  startedAt: z.number(),
  endedAt: z.number(),
});
export type Sighting = z.infer<typeof SightingSchema>;

export const TraceHopSchema = z.strictObject({
  service: z.string(),
  agentId: z.string(),
  path: z.string(),
  /** Whether the probe's header arrived at this hop. */
  headerSeen: z.boolean(),
  evidence: SightingEvidenceSchema,
  /** For a hop that lost the header: the service whose request reached it without the header, when known. */
  droppedBy: z.string().optional(),
  startedAt: z.number(),
});
export type TraceHop = z.infer<typeof TraceHopSchema>;

/**
 * A probe's outcome. `propagated`: every hop after the first kept the header;
 * `dropped`: a hop lost it (the first such hop has `droppedBy`); `first-hop-only`:
 * nothing was seen past the traced service, so whether it calls anything is unknown.
 */
export const TraceResultSchema = z.strictObject({
  id: ID,
  service: z.string(),
  path: z.string(),
  header: z.string(),
  value: z.string(),
  outcome: z.enum(['propagated', 'dropped', 'first-hop-only']),
  /** HTTP status the probe request got from the traced service. */
  probeStatus: z.number().int(),
  hops: z.array(TraceHopSchema),
});
export type TraceResult = z.infer<typeof TraceResultSchema>;

/**
 * The query of `GET /v1/agents/watch`. Unknown keys are ignored rather than
 * refused, so that a newer agent can add one without being locked out. `service`
 * has the shape of a name but no length cap: the watch never had one (intercepts
 * cap names at 63). Agents from before `--protocol` existed send none: they spoke HTTP/1.1 only.
 */
export const AgentWatchQuerySchema = z.object({
  service: z.string().regex(NAME_PATTERN, 'names are lower-case letters, digits, ".", "_" and "-"'),
  agentId: ID,
  /** The address callers reach the agent at; informational, and where `detour trace` sends its probe. */
  listen: z.string().default(''),
  protocol: z.enum(AGENT_PROTOCOLS).default('http1'),
});
export type AgentWatchQuery = z.infer<typeof AgentWatchQuerySchema>;

export const AgentAckSchema = z.strictObject({ version: z.number().int() });
export type AgentAck = z.infer<typeof AgentAckSchema>;

export const SessionCreateSchema = z.strictObject({
  name: NAME,
  /** Stable random id of one daemon home; lets the manager recognise a reconnecting developer. */
  clientId: ID,
  headerValue: z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/),
});
export type SessionCreate = z.infer<typeof SessionCreateSchema>;

export const SessionInfoSchema = z.strictObject({
  id: ID,
  name: z.string(),
  clientId: z.string(),
  headerValue: z.string(),
  leaseMs: z.number().int(),
  /** Epoch ms at which the session and its intercepts are removed unless a heartbeat arrives. */
  expiresAt: z.number(),
  tunnel: z.enum(['connected', 'disconnected']),
  createdAt: z.number(),
  /**
   * With `--signed-keys`: `headerValue` signed, the value to send. Renewed in a heartbeat's
   * answer once half its lifetime has passed; absent when the manager signs nothing.
   */
  signedValue: SignedValueSchema.optional(),
});
export type SessionInfo = z.infer<typeof SessionInfoSchema>;

export const SessionCreatedSchema = z.strictObject({
  session: SessionInfoSchema,
  /** Secret that proves ownership of the session; sent as `detour-session-key`. Never logged. */
  key: z.string(),
});
export type SessionCreated = z.infer<typeof SessionCreatedSchema>;

export const AgentInfoSchema = z.strictObject({
  id: z.string(),
  service: z.string(),
  /** The address callers reach the agent at, as the agent reported it. */
  listen: z.string(),
  /** What the agent's port speaks (`--protocol`); the manager refuses intercepts that cannot work on it. */
  protocol: z.enum(AGENT_PROTOCOLS),
  connectedAt: z.number(),
  ackedVersion: z.number().int(),
});
export type AgentInfo = z.infer<typeof AgentInfoSchema>;

export const ServiceInfoSchema = z.strictObject({
  name: z.string(),
  agents: z.array(AgentInfoSchema),
  intercepts: z.array(InterceptSchema),
});
export type ServiceInfo = z.infer<typeof ServiceInfoSchema>;

/** A variable of an app's environment. Names as POSIX shells take them; the value is a secret wherever it goes. */
export const EnvVariableSchema = z.strictObject({
  name: z.string().min(1).max(256).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'variable names are letters, digits and _, not starting with a digit'),
  value: z.string().max(128 * 1024),
});

/** Bounds of a published environment: a real app's is a few KiB; these stop a mistaken file from filling the manager. */
export const MAX_ENV_VARIABLES = 4096;
export const MAX_ENV_BYTES = 1024 * 1024;

/**
 * `POST /v1/agents/:agentId/environment`, on the agent's session (plain-process
 * mode, `detour agent --env-file`): the environment its app was started with.
 */
export const AgentEnvironmentSchema = z
  .strictObject({ variables: z.array(EnvVariableSchema).max(MAX_ENV_VARIABLES) })
  .refine((e) => e.variables.reduce((n, v) => n + v.name.length + v.value.length, 0) <= MAX_ENV_BYTES, `an environment holds at most ${MAX_ENV_BYTES} bytes of names and values`);
export type AgentEnvironment = z.infer<typeof AgentEnvironmentSchema>;

/** `GET /v1/services/:service/environment`: what an agent of the service published, for `detour intercept --env-file`. */
export const ServiceEnvironmentSchema = z.strictObject({
  service: z.string(),
  /** The agent whose copy this is: the most recently connected agent of the service that published one. */
  agentId: z.string(),
  variables: z.array(EnvVariableSchema),
});
export type ServiceEnvironment = z.infer<typeof ServiceEnvironmentSchema>;

export const ServiceListSchema = z.strictObject({ services: z.array(ServiceInfoSchema) });
export type ServiceList = z.infer<typeof ServiceListSchema>;

/**
 * A watch-stream line that is not a rule set: the manager asks the agent for its
 * recent log lines (`detour gather-logs`). The agent answers by posting them to
 * `API_PATHS.agentLogs(agentId, id)` on the same session, as it posts acks.
 */
export const LogsRequestLineSchema = z.strictObject({ logsRequest: z.strictObject({ id: ID }) });
export type LogsRequestLine = z.infer<typeof LogsRequestLineSchema>;

/** One component's recent log lines: NDJSON text as pino wrote it (redacted at the source). */
const LOG_TEXT = z.string();

/** `GET /v1/logs`: the manager's recent log lines and its agents', for a bug report archive. */
export const RecentLogsSchema = z.strictObject({
  manager: z.strictObject({ version: z.string(), log: LOG_TEXT }),
  agents: z.array(z.strictObject({ agentId: z.string(), service: z.string(), log: LOG_TEXT })),
  /** Agents that were connected when the manager asked but did not answer within its deadline. */
  missing: z.array(z.strictObject({ agentId: z.string(), service: z.string(), reason: z.string() })),
});
export type RecentLogs = z.infer<typeof RecentLogsSchema>;

/**
 * Which names the manager dials for developers' outbound calls (`--egress`), so
 * that the laptop sends exactly those through its proxy: `agents` — registered
 * services' names (single labels); `cluster` — Service names in the listed
 * namespaces (`quote.staging`), `*.svc` and `*.svc.<clusterDomain>`, and Service
 * addresses in the CIDRs.
 */
export const EgressNamesSchema = z.strictObject({
  mode: z.enum(['agents', 'cluster']),
  clusterDomain: z.string(),
  namespaces: z.array(z.string()),
  serviceCidrs: z.array(z.string()),
});
export type EgressNames = z.infer<typeof EgressNamesSchema>;

export const ManagerInfoSchema = z.strictObject({
  version: z.string(),
  leaseMs: z.number().int(),
  globalAllowed: z.boolean(),
  /** Whether personal header values are signed (`--signed-keys`); managers from before it send none. */
  signedKeys: z.boolean().optional(),
  /** The preview gateway's public origin (`--preview-url`), when the manager has one; managers from before previews send none. */
  previewUrl: z.string().optional(),
  /** The outbound name policy; managers from before it send none (then only single-label and `*.svc` names go through the proxy). */
  egress: EgressNamesSchema.optional(),
});
export type ManagerInfo = z.infer<typeof ManagerInfoSchema>;

// ── preview URLs (issue 12) ───────────────────────────────────────────────

/**
 * A preview id: 32 characters of RFC 4648 base32 in lower case, 160 random bits.
 * Lower case because it is a DNS label (`<id>.preview.example.test`), and host
 * names compare case-insensitively (RFC 4343); base32 so that no case is lost.
 */
export const PREVIEW_ID_PATTERN = /^[a-z2-7]{32}$/;
export const PreviewIdSchema = z.string().regex(PREVIEW_ID_PATTERN, 'a preview id is 32 characters a-z and 2-7');

/** The longest a preview lives: a link handed out must not stay valid forever. */
export const MAX_PREVIEW_TTL_MS = 30 * 24 * 3_600_000;
/** The shortest: less could not even be opened. */
export const MIN_PREVIEW_TTL_MS = 10_000;
export const DEFAULT_PREVIEW_TTL_MS = 24 * 3_600_000;

/**
 * Where a preview's requests go: `service` — the service's agent, at the
 * address it registered (`listen`); `url` — an ingress or any HTTP origin.
 */
export const PreviewEntrySchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('service'), service: NAME }),
  z.strictObject({ kind: z.literal('url'), url: z.string().max(2048).regex(/^https?:\/\/[^/?#\s]+\/?$/, 'an entry URL is an origin: http(s)://host[:port]') }),
]);
export type PreviewEntry = z.infer<typeof PreviewEntrySchema>;

/** `POST /v1/intercepts/:id/previews`. Without `entry`, the intercept's own service. */
export const PreviewCreateSchema = z.strictObject({
  entry: PreviewEntrySchema.optional(),
  ttlMs: z.number().int().min(MIN_PREVIEW_TTL_MS).max(MAX_PREVIEW_TTL_MS).default(DEFAULT_PREVIEW_TTL_MS),
});
export type PreviewCreate = z.input<typeof PreviewCreateSchema>;

/** A preview as its owner sees it. `id` and the URLs are absent for one restored from a store, which keeps only a hash of the id. */
export const PreviewSchema = z.strictObject({
  id: PreviewIdSchema.optional(),
  /** The id's first 6 characters, to tell previews apart without the secret. */
  hint: z.string(),
  interceptId: ID,
  interceptName: z.string(),
  service: z.string(),
  owner: z.string(),
  entry: PreviewEntrySchema,
  createdAt: z.number(),
  expiresAt: z.number(),
  /** `http(s)://<id>.<domain>/`: for browsers with wildcard DNS (`*.preview.localhost` works everywhere). */
  url: z.string().optional(),
  /** `http(s)://<domain>/_detour/preview/<id>`: sets a cookie, for setups without wildcard DNS. */
  shareUrl: z.string().optional(),
});
export type Preview = z.infer<typeof PreviewSchema>;

export const PreviewListSchema = z.strictObject({ previews: z.array(PreviewSchema) });
export type PreviewList = z.infer<typeof PreviewListSchema>;

/**
 * `GET /v1/previews/:id/route`, for the gateway: where to send the preview's
 * requests and what to add. `routingHeaders` are every header name an intercept
 * matches on now, which the gateway strips from what visitors send, so that a
 * preview cannot be used to reach someone else's laptop.
 */
export const PreviewRouteSchema = z.strictObject({
  hint: z.string(),
  owner: z.string(),
  service: z.string(),
  interceptName: z.string(),
  /** Origin to forward to: `http(s)://host:port`. */
  entryUrl: z.string(),
  /** Lower-case name and value of each header to add. */
  headers: z.array(z.strictObject({ name: z.string(), value: z.string() })),
  routingHeaders: z.array(z.string()),
  expiresAt: z.number(),
});
export type PreviewRoute = z.infer<typeof PreviewRouteSchema>;

/**
 * What a store keeps of a preview: the SHA-256 of its id, never the id itself,
 * so that reading the store (`kubectl get intercepts -o yaml`) does not hand
 * out working links. The gateway's lookup hashes the id it is given.
 */
export const StoredPreviewSchema = z.strictObject({
  idHash: z.string().regex(/^[0-9a-f]{64}$/),
  hint: z.string(),
  entry: PreviewEntrySchema,
  createdAt: z.number(),
  expiresAt: z.number(),
});
export type StoredPreview = z.infer<typeof StoredPreviewSchema>;

export const ErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
