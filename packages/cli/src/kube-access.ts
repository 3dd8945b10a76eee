import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { DetourError } from '@detour/core';

/** Which cluster and namespace: `--context`, `--namespace`, else the kubeconfig's current context and its namespace. */
export interface KubeTarget {
  context?: string;
  namespace?: string;
}

/** Where kubeconfig files are looked for: `$KUBECONFIG` (a path list), else ~/.kube/config. */
export interface KubeconfigLocation {
  kubeconfig?: string;
  homeDir: string;
}

export interface KubeAccess {
  config: KubeConfig;
  context: string;
  namespace: string;
  core: CoreV1Api;
}

/**
 * Loads the developer's kubeconfig, as kubectl does, with their own credentials:
 * so the cluster's RBAC decides what detour may read for them.
 */
export function openKube(target: KubeTarget, location: KubeconfigLocation): KubeAccess {
  const files = location.kubeconfig !== undefined && location.kubeconfig !== '' ? location.kubeconfig.split(':').filter((f) => f !== '') : [join(location.homeDir, '.kube', 'config')];
  const present = files.filter((f) => existsSync(f));
  if (present.length === 0) {
    throw new DetourError('DETOUR_ERR_KUBE_NO_CONFIG', `no kubeconfig at ${files.join(':')}; set KUBECONFIG, or log in to the cluster (e.g. \`gcloud container clusters get-credentials\`, \`aws eks update-kubeconfig\`), or pass --manager URL`);
  }
  const config = new KubeConfig();
  try {
    // client-node merges a KUBECONFIG path list the way kubectl does.
    if (present.length === 1) config.loadFromFile(present[0]!);
    else config.loadFromDefault({ onInvalidEntry: 'filter' });
  } catch (err) {
    throw new DetourError('DETOUR_ERR_KUBE_NO_CONFIG', `cannot read the kubeconfig ${present.join(':')}: ${(err as Error).message}`, { cause: err });
  }
  if (target.context !== undefined) {
    if (config.getContextObject(target.context) === null) {
      const known = config.getContexts().map((c) => c.name);
      throw new DetourError('DETOUR_ERR_KUBE_NO_CONFIG', `the kubeconfig has no context ${target.context} (contexts: ${known.length === 0 ? '(none)' : known.join(', ')}); see \`kubectl config get-contexts\``);
    }
    config.setCurrentContext(target.context);
  }
  const context = config.getCurrentContext();
  if (context === '' || config.getContextObject(context) === null) {
    throw new DetourError('DETOUR_ERR_KUBE_NO_CONFIG', 'the kubeconfig has no current context; pass --context NAME or run `kubectl config use-context NAME`');
  }
  const namespace = target.namespace ?? config.getContextObject(context)?.namespace ?? 'default';
  return { config, context, namespace, core: config.makeApiClient(CoreV1Api) };
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * The one line a failed API call becomes: what could not be read, and the command
 * or permission that fixes it. `what` is `get secrets/detour-token`-like (verb resource/name).
 */
export function kubeCallError(err: unknown, kube: KubeAccess, verb: string, resource: string, name?: string): DetourError {
  const status = statusOf(err);
  const object = name === undefined ? resource : `${resource}/${name}`;
  if (status === 401) {
    return new DetourError('DETOUR_ERR_KUBE_UNREACHABLE', `the cluster of context ${kube.context} refused your credentials (401); log in again (\`kubectl get ${resource} -n ${kube.namespace}\` must work)`, { cause: err });
  }
  if (status === 403) {
    return new DetourError('DETOUR_ERR_KUBE_FORBIDDEN', `you may not ${verb} ${object} in namespace ${kube.namespace}; ask for that permission (check with \`kubectl auth can-i ${verb} ${object} -n ${kube.namespace}\`)`, { cause: err });
  }
  if (status === 404) {
    return new DetourError('DETOUR_ERR_KUBE_NO_WORKLOAD', `there is no ${object} in namespace ${kube.namespace} (context ${kube.context}); pass --namespace, or check \`kubectl get ${resource} -n ${kube.namespace}\``, { cause: err });
  }
  if (status === undefined) {
    const server = kube.config.getCurrentCluster()?.server ?? '(no server)';
    return new DetourError('DETOUR_ERR_KUBE_UNREACHABLE', `cannot reach the cluster of context ${kube.context} at ${server}: ${(err as Error).message}; check your network or VPN, or pick another context with --context`, { cause: err });
  }
  return new DetourError('DETOUR_ERR_KUBE_UNREACHABLE', `the cluster answered ${status} to ${verb} ${object} in namespace ${kube.namespace}: ${(err as Error).message}`, { cause: err });
}
