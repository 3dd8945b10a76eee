import { DetourError } from '@detour/core';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { KubeConfig, V1DaemonSet, V1Deployment, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { INJECTED_ANNOTATION, INTERCEPT_RESOURCE, INJECT_DISABLED, INJECT_ENABLED, INJECT_LABEL, ORIGINAL_TARGET_PORTS_ANNOTATION } from '../names.js';
import type { PodTemplate, Service } from '../objects.js';
import { servicesSelecting } from '../selectors.js';
import { restoreService } from '../service-patch.js';
import { uninjectPodTemplate } from '../uninject.js';
import { bounded, httpStatus } from './client.js';
import { MERGE_PATCH, WRITE_TIMEOUT_MS, readModifyWrite } from './object-writes.js';

export interface UninstallOptions {
  namespace: string;
  /** One Service and the workloads it selects; undefined means everything detour touched in the namespace. */
  service?: string;
  /**
   * Only what the manager itself changed: the Services' targetPorts. For the chart's
   * pre-delete hook, which runs as the manager's ServiceAccount (no right to change
   * workloads); the workloads' opt-in labels are the user's, in their manifests.
   */
  servicesOnly?: boolean;
}

export interface UninstallReport {
  /** One line per object changed, saying what went back. */
  changes: string[];
  /** What uninstall cannot undo itself, with what to do. */
  notes: string[];
}

type Workload = V1Deployment | V1StatefulSet | V1DaemonSet;

interface WorkloadKind {
  kind: string;
  list(apps: AppsV1Api, namespace: string): Promise<Workload[]>;
  read(apps: AppsV1Api, namespace: string, name: string): Promise<Workload>;
  patch(apps: AppsV1Api, namespace: string, name: string, body: object): Promise<Workload>;
}

const KINDS: WorkloadKind[] = [
  {
    kind: 'Deployment',
    list: async (apps, namespace) => (await apps.listNamespacedDeployment({ namespace })).items,
    read: (apps, namespace, name) => apps.readNamespacedDeployment({ namespace, name }),
    patch: (apps, namespace, name, body) => apps.patchNamespacedDeployment({ namespace, name, body }, MERGE_PATCH),
  },
  {
    kind: 'StatefulSet',
    list: async (apps, namespace) => (await apps.listNamespacedStatefulSet({ namespace })).items,
    read: (apps, namespace, name) => apps.readNamespacedStatefulSet({ namespace, name }),
    patch: (apps, namespace, name, body) => apps.patchNamespacedStatefulSet({ namespace, name, body }, MERGE_PATCH),
  },
  {
    kind: 'DaemonSet',
    list: async (apps, namespace) => (await apps.listNamespacedDaemonSet({ namespace })).items,
    read: (apps, namespace, name) => apps.readNamespacedDaemonSet({ namespace, name }),
    patch: (apps, namespace, name, body) => apps.patchNamespacedDaemonSet({ namespace, name, body }, MERGE_PATCH),
  },
];

/**
 * A workload's template as uninstall leaves it: the template's own opt-in
 * (`detour.dev/inject: enabled`, label or annotation) removed, an injected
 * template (`detour inject` output) un-injected, and — only where the namespace
 * opts in, so the webhook would inject the next pods anyway — an explicit opt-out.
 * Changing the template rolls the workload: its new pods have no agent.
 */
function uninstalledTemplate(template: PodTemplate, namespaceOptsIn: boolean): { template: PodTemplate; changes: string[] } {
  const { template: out, changes } = uninjectPodTemplate(template);
  out.metadata ??= {};
  for (const field of ['labels', 'annotations'] as const) {
    const map = out.metadata[field];
    if (map?.[INJECT_LABEL] !== INJECT_ENABLED) continue;
    delete map[INJECT_LABEL];
    if (Object.keys(map).length === 0) delete out.metadata[field];
    changes.push(`${field === 'labels' ? 'label' : 'annotation'} ${INJECT_LABEL} removed`);
  }
  if (namespaceOptsIn && out.metadata.labels?.[INJECT_LABEL] !== INJECT_DISABLED) {
    out.metadata.labels = { ...out.metadata.labels, [INJECT_LABEL]: INJECT_DISABLED };
    changes.push(`label ${INJECT_LABEL}=${INJECT_DISABLED} set (the namespace opts in; remove the namespace's label to undo that too)`);
  }
  if (Object.keys(out.metadata).length === 0) delete out.metadata;
  return { template: out, changes };
}

function touchedByDetour(template: PodTemplate | undefined): boolean {
  const meta = template?.metadata;
  return meta?.annotations?.[INJECTED_ANNOTATION] !== undefined || meta?.labels?.[INJECT_LABEL] === INJECT_ENABLED || meta?.annotations?.[INJECT_LABEL] === INJECT_ENABLED;
}

/**
 * `detour uninstall`: takes back what detour put into a namespace, field by field.
 * Workloads first (opted out, so no new pod is injected and the manager does not
 * patch a Service again), then the Services whose targetPort the manager patched
 * (restored from the annotation that kept the original). Pods already running
 * keep their agent until their workload's rollout replaces them; bare Pods
 * cannot lose a container and are named in the notes.
 */
export async function uninstall(config: KubeConfig, options: UninstallOptions): Promise<UninstallReport> {
  const { namespace } = options;
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const changes: string[] = [];
  const notes: string[] = [];

  const services = (await bounded(core.listNamespacedService({ namespace }), WRITE_TIMEOUT_MS)).items as unknown as Service[];
  const chosen = options.service === undefined ? services : services.filter((s) => s.metadata.name === options.service);
  if (options.service !== undefined && chosen.length === 0) throw new DetourError('DETOUR_ERR_UNINSTALL_FAILED', `no Service ${options.service} in namespace ${namespace}: nothing to uninstall (kubectl get services -n ${namespace})`);

  const namespaceOptsIn = options.servicesOnly === true ? false : await bounded(core.readNamespace({ name: namespace }), WRITE_TIMEOUT_MS).then(
    (ns) => ns.metadata?.labels?.[INJECT_LABEL] === INJECT_ENABLED,
    (err: unknown) => {
      // Reading a namespace is cluster-scoped; without the right, say what that means.
      notes.push(`could not read namespace ${namespace} (${httpStatus(err) ?? 'error'}): if it carries ${INJECT_LABEL}=${INJECT_ENABLED}, new pods still get agents`);
      return false;
    },
  );

  for (const kind of options.servicesOnly === true ? [] : KINDS) {
    for (const workload of await bounded(kind.list(apps, namespace), WRITE_TIMEOUT_MS)) {
      const template = workload.spec?.template as unknown as PodTemplate | undefined;
      const name = workload.metadata?.name ?? '';
      const selected = options.service === undefined ? touchedByDetour(template) : servicesSelecting(chosen, template?.metadata?.labels ?? {}).length > 0;
      if (!selected || template === undefined) continue;
      let lines: string[] = [];
      const written = await readModifyWrite<Workload>(
        () => kind.read(apps, namespace, name),
        (body) => kind.patch(apps, namespace, name, body),
        (current) => {
          const out = structuredClone(current);
          const result = uninstalledTemplate(current.spec?.template as unknown as PodTemplate, namespaceOptsIn);
          lines = result.changes;
          (out.spec as { template: unknown }).template = result.template;
          return out;
        },
      );
      if (written !== undefined) for (const line of lines) changes.push(`${kind.kind} ${namespace}/${name}: ${line}`);
    }
  }

  for (const service of chosen) {
    if (service.metadata.annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION] === undefined) continue;
    const name = service.metadata.name ?? '';
    const written = await readModifyWrite<V1Service>(
      () => core.readNamespacedService({ namespace, name }),
      (body) => core.patchNamespacedService({ namespace, name, body }, MERGE_PATCH),
      (current) => restoreService(current as unknown as Service) as unknown as V1Service,
    );
    if (written !== undefined) {
      const ports = (written.after.spec?.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'} → ${p.targetPort ?? p.port}`).join(', ');
      changes.push(`Service ${namespace}/${name}: targetPort restored (${ports})`);
    }
  }

  const pods = options.servicesOnly === true ? [] : (await bounded(core.listNamespacedPod({ namespace }), WRITE_TIMEOUT_MS)).items;
  for (const pod of pods) {
    if (pod.metadata?.annotations?.[INJECTED_ANNOTATION] === undefined || (pod.metadata.ownerReferences ?? []).some((o) => o.controller === true)) continue;
    if (options.service !== undefined && servicesSelecting(chosen, pod.metadata.labels ?? {}).length === 0) continue;
    notes.push(`Pod ${namespace}/${pod.metadata.name ?? '?'} has an agent and no controller to replace it: delete and re-create it to remove the agent`);
  }
  return { changes, notes };
}

/**
 * Deletes every intercepts.detour.dev object in `namespace` (the chart's
 * pre-delete hook: Helm never deletes a chart's CRD, so its objects would stay).
 * Returns one line per object deleted.
 */
export async function deleteIntercepts(config: KubeConfig, namespace: string): Promise<string[]> {
  const api = config.makeApiClient(CustomObjectsApi);
  const resource = { group: INTERCEPT_RESOURCE.group, version: INTERCEPT_RESOURCE.version, namespace, plural: INTERCEPT_RESOURCE.plural };
  const list = (await bounded(api.listNamespacedCustomObject(resource), WRITE_TIMEOUT_MS)) as { items?: Array<{ metadata?: { name?: string } }> };
  const lines: string[] = [];
  for (const item of list.items ?? []) {
    const name = item.metadata?.name;
    if (name === undefined) continue;
    await bounded(api.deleteNamespacedCustomObject({ ...resource, name }), WRITE_TIMEOUT_MS).catch((err: unknown) => {
      if (httpStatus(err) !== 404) throw err;
    });
    lines.push(`Intercept ${namespace}/${name} deleted`);
  }
  return lines;
}
