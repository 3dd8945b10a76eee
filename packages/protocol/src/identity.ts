import { z } from 'zod';

/**
 * Who may do what (issue 13). Every credential belongs to one identity with one role:
 * - `admin`: everything a developer may, on anyone's intercepts, plus tokens and the audit log;
 * - `developer`: sessions and their own intercepts, within their policy;
 * - `agent`: watch rule sets and serve relay streams, nothing else.
 */
export const ROLES = ['admin', 'developer', 'agent'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

const IDENTITY_NAME_PATTERN = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;
/** Identity names share the manager's name alphabet: they become owner names and header values. */
export const IdentityNameSchema = z.string().min(1).max(40).regex(IDENTITY_NAME_PATTERN, 'names are lower-case letters, digits, ".", "_" and "-" (at most 40)');

const SERVICE_NAME = z.string().min(1).max(63).regex(IDENTITY_NAME_PATTERN, 'service names are lower-case letters, digits, ".", "_" and "-"');
const HEADER_NAME = z.string().min(1).max(256).regex(/^[!#$%&'*+.^_`|~0-9a-z-]+$/, 'header names are lower-case HTTP tokens');

/**
 * What an identity may do beyond its role. Absent fields do not restrict: a role's
 * policy (auth file `roles:`) applies first, the identity's own fields then replace it field by field.
 */
export const PolicySchema = z.strictObject({
  /** Services that may be intercepted; absent: all. */
  services: z.array(SERVICE_NAME).max(1000).optional(),
  /** Whether `--global` is allowed (the manager's `--no-global` still wins). */
  global: z.boolean().optional(),
  /** How many intercepts the identity may hold at once, over all its sessions. */
  maxIntercepts: z.number().int().min(0).max(100_000).optional(),
  /** Header names its intercepts may match on; absent: any. */
  headers: z.array(HEADER_NAME).max(100).optional(),
});
export type Policy = z.infer<typeof PolicySchema>;

/** `POST /v1/tokens`: creates an identity and its token. */
export const TokenCreateSchema = z.strictObject({
  name: IdentityNameSchema,
  role: RoleSchema,
  services: z.array(SERVICE_NAME).max(1000).optional(),
  /** From now; absent: never expires. */
  expiresInMs: z.number().int().min(1000).max(10 * 365 * 86_400_000).optional(),
});
export type TokenCreate = z.infer<typeof TokenCreateSchema>;

/** An identity as the token API shows it: never its token nor the token's hash. */
export const IdentityInfoSchema = z.strictObject({
  name: z.string(),
  role: RoleSchema,
  /** Epoch ms; absent: never. */
  expiresAt: z.number().optional(),
  policy: PolicySchema,
  expired: z.boolean(),
});
export type IdentityInfo = z.infer<typeof IdentityInfoSchema>;

export const TokenListSchema = z.strictObject({ identities: z.array(IdentityInfoSchema) });
export type TokenList = z.infer<typeof TokenListSchema>;

/** `POST /v1/tokens` answers with the one copy of the token there will ever be. */
export const TokenCreatedSchema = z.strictObject({ identity: IdentityInfoSchema, token: z.string() });
export type TokenCreated = z.infer<typeof TokenCreatedSchema>;

/** One line of the audit log: who did what, when, from where. */
export const AuditEntrySchema = z.strictObject({
  /** ISO 8601. */
  time: z.string(),
  /** The authenticated identity; `token` in single-token mode, where the caller's `--name` is in `details`. */
  who: z.string(),
  /** Absent when the caller could not be identified (a refused token). */
  role: RoleSchema.optional(),
  /** e.g. `session.open`, `intercept.create`, `token.revoke`, `auth.refused`. */
  action: z.string(),
  /** The remote address of the call. */
  from: z.string(),
  outcome: z.enum(['ok', 'refused']),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export const AuditListSchema = z.strictObject({ entries: z.array(AuditEntrySchema) });
export type AuditList = z.infer<typeof AuditListSchema>;
