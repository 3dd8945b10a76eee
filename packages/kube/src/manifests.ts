import type { InjectOptions } from './inject.js';
import { injectPodTemplate } from './inject.js';
import { INJECT_DISABLED, INJECT_LABEL } from './names.js';
import type { KubeObject, PodTemplate, Service } from './objects.js';
import { isRecord } from './objects.js';
import { patchServiceForAgent } from './service-patch.js';

/** Where each kind keeps its pod template; a Pod is its own. */
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface ManifestFailure {
  /** `Deployment shop/web`, as kubectl names objects. */
  object: string;
  reason: string;
}

export interface ManifestsResult {
  /** The input objects in their order, injected where they could be; anything else unchanged. */
  objects: unknown[];
  /** One line per change, prefixed with the object it was made to. */
  changes: string[];
  failures: ManifestFailure[];
}

function objectName(object: KubeObject): string {
  const namespace = object.metadata?.namespace;
  return `${object.kind ?? '?'} ${namespace === undefined ? '' : `${namespace}/`}${object.metadata?.name ?? '?'}`;
}

const sameNamespace = (a: KubeObject, b: KubeObject) => (a.metadata?.namespace ?? '') === (b.metadata?.namespace ?? '');

/** The objects of a manifest with `kind: List` opened, for finding Services; the output keeps the Lists. */
function flatten(objects: readonly unknown[]): KubeObject[] {
  return objects.flatMap((o) => (isRecord(o) && o.kind === 'List' && Array.isArray(o.items) ? flatten(o.items) : isRecord(o) ? [o as KubeObject] : []));
}

function templateOf(object: KubeObject): PodTemplate | undefined {
  const path = TEMPLATE_PATHS[object.kind ?? ''];
  if (path === undefined) return undefined;
  let at: unknown = object;
  for (const key of path) at = isRecord(at) ? at[key] : undefined;
  return isRecord(at) && isRecord(at.spec) ? (at as unknown as PodTemplate) : undefined;
}

function withTemplate(object: KubeObject, template: PodTemplate): KubeObject {
  const path = TEMPLATE_PATHS[object.kind ?? ''] ?? [];
  if (path.length === 0) return { ...object, metadata: template.metadata, spec: template.spec };
  const out = structuredClone(object);
  let at = out as Record<string, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, unknown>;
  at[path[path.length - 1] as string] = template;
  return out;
}

/**
 * `detour inject` on plain data: every workload (and bare Pod) of `objects` gets its
 * agents, from the Services in `objects` plus `services` (from `--service-file`) of
 * its namespace; a Service of `objects` that a workload's agent fronts by number is
 * patched to the agent's port. Unknown kinds pass through unchanged, as do workloads
 * that say `detour.dev/inject: disabled`; a workload that cannot be injected is
 * passed through unchanged and named in `failures`.
 */
export function injectManifests(objects: readonly unknown[], services: readonly Service[], options: InjectOptions): ManifestsResult {
  const all = flatten(objects);
  const inputServices = all.filter((o) => o.kind === 'Service' && isRecord(o.metadata)) as Service[];
  const known = [...inputServices, ...services];
  const changes: string[] = [];
  const failures: ManifestFailure[] = [];
  /** Per Service object of the input: the numeric targetPorts an agent now fronts. */
  const fronted = new Map<Service, Set<number>>();

  const injectOne = (object: KubeObject): KubeObject => {
    const template = templateOf(object);
    if (template === undefined) return object;
    const own = object.metadata?.annotations?.[INJECT_LABEL] ?? object.metadata?.labels?.[INJECT_LABEL];
    if (own === INJECT_DISABLED) return object;
    const candidates = known.filter((s) => sameNamespace(s, object));
    const result = injectPodTemplate(template, candidates, options);
    if (!result.injected) {
      failures.push({ object: objectName(object), reason: result.reason });
      return object;
    }
    for (const change of result.changes) changes.push(`${objectName(object)}: ${change}`);
    for (const target of result.numericTargets) {
      const service = inputServices.find((s) => s.metadata.name === target.service && sameNamespace(s, object));
      if (service === undefined) {
        changes.push(`${objectName(object)}: Service ${target.service} targets ${target.targetPort} by number: run detour inject on its manifest too, so its targetPort becomes ${target.agentPortName}`);
        continue;
      }
      const ports = fronted.get(service) ?? new Set<number>();
      ports.add(target.targetPort);
      fronted.set(service, ports);
    }
    return result.changes.length === 0 ? object : withTemplate(object, result.template);
  };
  const patchOne = (object: KubeObject): KubeObject => {
    const ports = fronted.get(object as Service);
    if (ports === undefined) return object;
    changes.push(`${objectName(object)}: targetPort ${[...ports].join(', ')} → the agent's port`);
    return patchServiceForAgent(object as Service, ports);
  };
  // Workloads first (they say which Services need a patch), then the Services; Lists keep their shape.
  const walk = (list: readonly unknown[], visit: (o: KubeObject) => KubeObject): unknown[] =>
    list.map((o) => (!isRecord(o) ? o : o.kind === 'List' && Array.isArray(o.items) ? { ...o, items: walk(o.items, visit) } : visit(o as KubeObject)));
  const injected = walk(objects, injectOne);
  // injectOne returns a Service as the very object flatten() found, so patchOne finds it by identity.
  return { objects: walk(injected, patchOne), changes, failures };
}
