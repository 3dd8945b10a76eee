import { DetourError, errorBody } from '@detour/core';
import type { Logger } from '@detour/core';
import type { InjectOptions, NumericTarget } from './inject.js';
import { injectPodTemplate } from './inject.js';
import { diffJsonPatch } from './json-patch.js';
import { INJECT_DISABLED, INJECT_ENABLED, INJECT_LABEL } from './names.js';
import type { ObjectMeta, PodTemplate, Service } from './objects.js';
import { isRecord } from './objects.js';

/** The Services of a namespace; the manager plugs in its Kubernetes API client (a cached list+watch), tests recorded objects. */
export interface ServiceLookup {
  servicesIn(namespace: string): Promise<Service[]>;
}

/** Whether a namespace opted in (`detour.dev/inject: enabled` label); optional, see {@link AdmissionContext.namespaces}. */
export interface NamespaceLookup {
  optedIn(namespace: string): Promise<boolean>;
}

/** Who a pod is, for logs, warnings and Events: the AdmissionReview may carry only a generateName. */
export interface PodRef {
  namespace: string;
  /** The pod's name, or its generateName followed by `*` while the API server has not named it yet. */
  name: string;
  /** The controller that owns it (`ReplicaSet/web-5d8f…`), where there is one: the object an Event should name. */
  owner?: { kind: string; name: string };
}

/**
 * What the webhook tells the rest of the manager. `skipped` is where a Kubernetes
 * Event ("not injected: …") belongs: it needs the API client, which the manager's
 * Kubernetes side owns. `injected` lists Services the manager must patch
 * (`patchServiceForAgent`) once the pods have their agents.
 */
export interface AdmissionHooks {
  skipped?(pod: PodRef, reason: string): void;
  injected?(pod: PodRef, numericTargets: NumericTarget[]): void;
}

export interface AdmissionContext {
  services: ServiceLookup;
  /**
   * The webhook's namespaceSelector already chose the namespace; with a lookup, a pod
   * that did not opt in itself is checked again against its namespace's label.
   */
  namespaces?: NamespaceLookup;
  options: InjectOptions;
  logger: Logger;
  hooks?: AdmissionHooks;
}

/** What the HTTP side sends back: a status and a JSON body. */
export interface AdmissionAnswer {
  status: number;
  body: unknown;
}

interface AdmissionRequest {
  uid: string;
  kind?: { kind?: string };
  resource?: { resource?: string };
  subResource?: string;
  operation?: string;
  namespace?: string;
  object?: unknown;
}

const REVIEW_API_VERSION = 'admission.k8s.io/v1';

/** Checks the envelope only: what is inside `object` is injection's business, and its trouble fails open. */
function parseReview(body: unknown): AdmissionRequest {
  const bad = (why: string) => new DetourError('DETOUR_ERR_WEBHOOK_BAD_REVIEW', `not an AdmissionReview ${REVIEW_API_VERSION}: ${why}`);
  if (!isRecord(body)) throw bad('the body is not a JSON object');
  if (body.apiVersion !== REVIEW_API_VERSION || body.kind !== 'AdmissionReview') {
    throw bad(`apiVersion ${JSON.stringify(body.apiVersion)}, kind ${JSON.stringify(body.kind)}`);
  }
  const request = body.request;
  if (!isRecord(request)) throw bad('no request');
  if (typeof request.uid !== 'string' || request.uid === '') throw bad('request.uid is not a non-empty string');
  return request as unknown as AdmissionRequest;
}

function answer(uid: string, extra: Record<string, unknown> = {}): AdmissionAnswer {
  return { status: 200, body: { apiVersion: REVIEW_API_VERSION, kind: 'AdmissionReview', response: { uid, allowed: true, ...extra } } };
}

function podRef(request: AdmissionRequest, metadata: ObjectMeta): PodRef {
  const namespace = request.namespace ?? metadata.namespace ?? 'default';
  const name = metadata.name ?? (metadata.generateName === undefined ? '?' : `${metadata.generateName}*`);
  const owners = Array.isArray(metadata.ownerReferences) ? (metadata.ownerReferences as unknown[]) : [];
  const owner = owners.find((o): o is { kind: string; name: string } => isRecord(o) && o.controller === true && typeof o.kind === 'string' && typeof o.name === 'string');
  return { namespace, name, ...(owner === undefined ? {} : { owner: { kind: owner.kind, name: owner.name } }) };
}

function describe(pod: PodRef): string {
  return `pod ${pod.namespace}/${pod.name}${pod.owner === undefined ? '' : ` of ${pod.owner.kind} ${pod.owner.name}`}`;
}

/**
 * Answers one AdmissionReview (`admission.k8s.io/v1`) for the agent injector.
 *
 * Every answer that is not a 400 says `allowed: true`. The webhook is installed
 * with `failurePolicy: Ignore` so a down manager never blocks deployments, but
 * that covers only a webhook that cannot be reached: an answer of `allowed: false`
 * is obeyed. Telepresence's mutator answers that on its own errors and so blocks
 * pod creation; here a bug or an error inside the mutation admits the pod
 * unchanged, with a warning (the API server passes `warnings` on as `Warning: 299`
 * headers, RFC 7234 §5.5, which kubectl prints) and a log line.
 * A body that is not an AdmissionReview gets a 400: the API server never sends
 * one, so the caller is not the API server.
 */
export async function reviewAdmission(body: unknown, context: AdmissionContext): Promise<AdmissionAnswer> {
  let request: AdmissionRequest;
  try {
    request = parseReview(body);
  } catch (err) {
    const error = err as DetourError;
    return { status: 400, body: errorBody(error.code, error.message) };
  }
  try {
    return await mutate(request, context);
  } catch (err) {
    context.logger.error({ err, uid: request.uid }, 'agent injection failed; the pod is admitted unchanged');
    return answer(request.uid, { warnings: ['detour: agent injection failed inside the webhook; the pod was admitted without an agent (see the manager log)'] });
  }
}

async function mutate(request: AdmissionRequest, context: AdmissionContext): Promise<AdmissionAnswer> {
  const { uid } = request;
  // Only pod creation: containers cannot be added to a running pod, and the webhook's rules name pods/CREATE.
  if (request.kind?.kind !== 'Pod' || (request.subResource ?? '') !== '' || request.operation !== 'CREATE') return answer(uid);
  const pod = request.object;
  if (!isRecord(pod) || !isRecord(pod.spec)) return answer(uid);
  const metadata: ObjectMeta = isRecord(pod.metadata) ? (pod.metadata as ObjectMeta) : {};
  const ref = podRef(request, metadata);

  const own = metadata.labels?.[INJECT_LABEL] ?? metadata.annotations?.[INJECT_LABEL];
  if (own === INJECT_DISABLED) return answer(uid);
  if (own !== INJECT_ENABLED && context.namespaces !== undefined && !(await context.namespaces.optedIn(ref.namespace))) return answer(uid);

  const services = await context.services.servicesIn(ref.namespace);
  const template: PodTemplate = { metadata, spec: pod.spec as unknown as PodTemplate['spec'] };
  const result = injectPodTemplate(template, services, context.options);
  if (!result.injected) {
    context.logger.warn({ pod: ref, reason: result.reason }, 'pod not injected');
    context.hooks?.skipped?.(ref, result.reason);
    return answer(uid, { warnings: [`detour: ${describe(ref)} not injected: ${result.reason}`] });
  }
  if (result.changes.length === 0) return answer(uid);
  const after = { ...pod, metadata: result.template.metadata, spec: result.template.spec };
  // Two levels: whole /metadata/annotations, /spec/containers, /spec/volumes.
  const patch = diffJsonPatch(pod, after, 2);
  context.logger.info({ pod: ref, changes: result.changes }, 'agent injected');
  context.hooks?.injected?.(ref, result.numericTargets);
  return answer(uid, { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') });
}
