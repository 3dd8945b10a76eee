import { z } from 'zod';

/**
 * The API's shapes, validated on both sides of every call. zod is this package's
 * one runtime dependency: the schemas *are* the wire contract, so they live with it.
 */

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/; // RFC 9110 §5.6.2 token, lower-cased

export const HeaderMatcherSchema = z.strictObject({
  /** Lower-case header name. */
  name: z.string().min(1).max(256).regex(HEADER_NAME, 'header name must be an RFC 9110 token in lower case'),
  /** `equals`: the value is compared exactly. `regex`: RE2 syntax, must match the whole value. */
  op: z.enum(['equals', 'regex']),
  value: z.string().max(4096),
});
export type HeaderMatcher = z.infer<typeof HeaderMatcherSchema>;

export const PathMatcherSchema = z.strictObject({
  /** Compared against the request path without its query string. */
  op: z.enum(['equals', 'prefix', 'regex']),
  value: z.string().min(1).max(4096),
});
export type PathMatcher = z.infer<typeof PathMatcherSchema>;

export const OnDisconnectSchema = z.enum(['fallback', 'fail']);
export type OnDisconnect = z.infer<typeof OnDisconnectSchema>;

const ID = z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'ids are letters, digits, ".", "_" and "-"');
const NAME = z.string().min(1).max(63).regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, 'names are lower-case letters, digits, ".", "_" and "-"');

/** What a daemon asks the manager to create. The daemon picks the id so that it can re-assert the same intercept after a manager restart. */
export const InterceptRequestSchema = z.strictObject({
  id: ID,
  name: NAME,
  service: NAME,
  headers: z.array(HeaderMatcherSchema).max(32),
  paths: z.array(PathMatcherSchema).max(32),
  global: z.boolean(),
  onDisconnect: OnDisconnectSchema,
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

/** One NDJSON line of the agent watch stream: the whole rule set of a service. */
export const RuleSetSchema = z.strictObject({
  service: z.string(),
  /** Increases on every change of the service's intercepts (including online state). */
  version: z.number().int(),
  intercepts: z.array(InterceptSchema),
});
export type RuleSet = z.infer<typeof RuleSetSchema>;

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

export const ServiceListSchema = z.strictObject({ services: z.array(ServiceInfoSchema) });
export type ServiceList = z.infer<typeof ServiceListSchema>;

export const ManagerInfoSchema = z.strictObject({
  version: z.string(),
  leaseMs: z.number().int(),
  globalAllowed: z.boolean(),
});
export type ManagerInfo = z.infer<typeof ManagerInfoSchema>;

export const ErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
