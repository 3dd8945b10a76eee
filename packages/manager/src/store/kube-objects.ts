import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InterceptRequestSchema, OwnerSchema, StoredPreviewSchema } from '@detour/protocol';
import type { StoredPreview } from '@detour/protocol';
import { INTERCEPT_RESOURCE } from '@detour/kube';
import type { StoredIntercept } from './intercept-store.js';

/**
 * The `intercepts.detour.dev` custom resource, as plain data: how a stored
 * intercept becomes an object and back. The CRD itself is in the Helm chart
 * (charts/detour/crds/intercepts.detour.dev.yaml); what is written here must fit
 * its schema, since an API server prunes fields a structural schema does not declare.
 */
export { INTERCEPT_RESOURCE };
export const INTERCEPT_API_VERSION = `${INTERCEPT_RESOURCE.group}/${INTERCEPT_RESOURCE.version}`;

/** The intercept's own id: object names must be DNS-1123 subdomains, intercept ids need not be. */
export const ID_ANNOTATION = 'detour.dev/intercept-id';
/** Acceptance order (Intercept.sequence): the precedence tie-break survives a restart. */
export const SEQUENCE_ANNOTATION = 'detour.dev/sequence';
export const MANAGED_BY_LABEL = { 'app.kubernetes.io/managed-by': 'detour' } as const;

export interface InterceptSpec {
  service: string;
  name: string;
  owner: { name: string; headerValue: string; sessionId: string; clientHash: string };
  headers: StoredIntercept['intercept']['headers'];
  paths: StoredIntercept['intercept']['paths'];
  global: boolean;
  onDisconnect: string;
  mechanism: string;
  localPort: number;
  previews: StoredPreview[];
}

/** Written through the status subresource only. */
export interface InterceptStatus {
  online: boolean;
  /** The developer's name, for `kubectl get intercepts`. */
  owner: string;
  /** RFC 3339, when the manager first accepted the intercept. */
  acceptedAt: string;
}

export interface InterceptObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: InterceptSpec;
  status?: InterceptStatus;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The object name of an intercept: its id when that is a valid name (daemons use UUIDs), else a digest of it. */
export function objectName(interceptId: string): string {
  if (interceptId.length <= 253 && DNS_SUBDOMAIN.test(interceptId)) return interceptId;
  return `intercept-${createHash('sha256').update(interceptId).digest('hex').slice(0, 40)}`;
}

export function toObject(stored: StoredIntercept, namespace: string): InterceptObject {
  const { intercept, clientHash, previews } = stored;
  return {
    apiVersion: INTERCEPT_API_VERSION,
    kind: INTERCEPT_RESOURCE.kind,
    metadata: {
      name: objectName(intercept.id),
      namespace,
      labels: { ...MANAGED_BY_LABEL },
      annotations: { [ID_ANNOTATION]: intercept.id, [SEQUENCE_ANNOTATION]: String(intercept.sequence) },
    },
    spec: {
      service: intercept.service,
      name: intercept.name,
      owner: { ...intercept.owner, clientHash },
      headers: intercept.headers,
      paths: intercept.paths,
      global: intercept.global,
      onDisconnect: intercept.onDisconnect,
      mechanism: intercept.mechanism,
      localPort: intercept.localPort,
      // Always present, empty too: a JSON merge patch (RFC 7396) without the key would leave the old previews in place.
      previews: previews ?? [],
    },
    status: { online: intercept.online, owner: intercept.owner.name, acceptedAt: new Date(intercept.createdAt).toISOString() },
  };
}

const ObjectSchema = z.object({
  metadata: z.object({
    name: z.string(),
    creationTimestamp: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.object({
    ...InterceptRequestSchema.omit({ id: true }).shape,
    owner: z.object({ ...OwnerSchema.shape, clientHash: z.string().regex(/^[0-9a-f]{64}$/) }),
    previews: z.array(StoredPreviewSchema).optional(),
  }),
  status: z.object({ online: z.boolean().optional(), acceptedAt: z.string().optional() }).optional(),
});

/**
 * Reads an object back, or says what is wrong with it: objects can be written by
 * hand (`kubectl apply`), so each is checked like an API request would be.
 */
export function fromObject(object: unknown): { stored: StoredIntercept } | { problem: string } {
  const parsed = ObjectSchema.safeParse(object);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { problem: `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
  }
  const { metadata, spec, status } = parsed.data;
  const id = InterceptRequestSchema.shape.id.safeParse(metadata.annotations?.[ID_ANNOTATION] ?? metadata.name);
  if (!id.success) return { problem: `metadata.annotations.${ID_ANNOTATION}: ${id.error.issues[0]?.message ?? 'invalid'}` };
  const { clientHash, ...owner } = spec.owner;
  const { previews, ...request } = spec;
  const createdAt = Date.parse(status?.acceptedAt ?? metadata.creationTimestamp ?? '');
  const sequence = Number(metadata.annotations?.[SEQUENCE_ANNOTATION] ?? 0);
  return {
    stored: {
      clientHash,
      ...(previews === undefined || previews.length === 0 ? {} : { previews }),
      intercept: {
        ...request,
        id: id.data,
        owner,
        createdAt: Number.isNaN(createdAt) ? 0 : createdAt,
        sequence: Number.isInteger(sequence) ? sequence : 0,
        online: status?.online ?? false,
      },
    },
  };
}

/** What a spec update must change (merge-patch body minus the concurrency precondition). */
export function specPart(object: InterceptObject): { metadata: { annotations: Record<string, string> }; spec: InterceptSpec } {
  return { metadata: { annotations: object.metadata.annotations ?? {} }, spec: object.spec };
}
