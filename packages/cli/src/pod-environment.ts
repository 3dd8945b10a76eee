import { appContainer, containerEnvironment, referencedSources } from '@detour/kube';
import type { ContainerEnvironment, KeyValueSource, RunningPod } from '@detour/kube';
import { DetourError } from '@detour/core';
import { kubeCallError } from './kube-access.js';
import type { KubeAccess } from './kube-access.js';

function matches(labels: Record<string, string> | undefined, selector: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * The environment of the app container of a running pod behind Service `service`:
 * the Service's selector finds the pods, a Running one is read with the ConfigMaps
 * and Secrets its environment refers to, and the kubelet's rules resolve it.
 */
export async function serviceEnvironment(kube: KubeAccess, service: string): Promise<ContainerEnvironment & { pod: string }> {
  const { core, namespace } = kube;
  let selector: Record<string, string> | undefined;
  try {
    selector = (await core.readNamespacedService({ name: service, namespace })).spec?.selector;
  } catch (err) {
    throw kubeCallError(err, kube, 'get', 'services', service);
  }
  if (selector === undefined || Object.keys(selector).length === 0) {
    throw new DetourError('DETOUR_ERR_KUBE_NO_WORKLOAD', `Service ${service} in namespace ${namespace} has no selector, so no pod backs it; --env-file needs a workload's pods`);
  }
  const labelSelector = Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
  let pods;
  try {
    pods = (await core.listNamespacedPod({ namespace, labelSelector })).items;
  } catch (err) {
    throw kubeCallError(err, kube, 'list', 'pods');
  }
  // The selector is applied here too: the answer is then right whatever the server did with labelSelector.
  const pod = pods.find((p) => p.status?.phase === 'Running' && matches(p.metadata?.labels, selector)) as RunningPod | undefined;
  if (pod === undefined) {
    throw new DetourError('DETOUR_ERR_KUBE_NO_WORKLOAD', `no running pod matches Service ${service}'s selector ${labelSelector} in namespace ${namespace}; check \`kubectl get pods -n ${namespace} -l ${labelSelector}\``);
  }
  const podName = pod.metadata?.name ?? '(unnamed)';
  const container = appContainer(pod);
  if (container === undefined) {
    const names = pod.spec.containers.map((c) => c.name).join(', ');
    throw new DetourError('DETOUR_ERR_KUBE_NO_WORKLOAD', `pod ${podName} runs several app containers (${names}); detour cannot tell which is the one you run locally`);
  }
  const refs = referencedSources(container);
  const configMaps = new Map<string, KeyValueSource>();
  const secrets = new Map<string, KeyValueSource>();
  for (const name of refs.configMaps) {
    try {
      configMaps.set(name, await core.readNamespacedConfigMap({ name, namespace }));
    } catch (err) {
      // An optional source may be absent; the resolver says which variables went without it.
      if ((err as { code?: number }).code !== 404) throw kubeCallError(err, kube, 'get', 'configmaps', name);
    }
  }
  for (const name of refs.secrets) {
    try {
      secrets.set(name, await core.readNamespacedSecret({ name, namespace }));
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw kubeCallError(err, kube, 'get', 'secrets', name);
    }
  }
  return { ...containerEnvironment(pod, container, { configMaps, secrets }), pod: podName };
}
