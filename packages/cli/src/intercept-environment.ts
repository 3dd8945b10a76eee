import { chmod, writeFile } from 'node:fs/promises';
import { DetourError, formatDotenv, isDetourError } from '@detour/core';
import type { EnvVariable } from '@detour/core';
import type { ServiceEnvironment } from '@detour/protocol';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DaemonStatus, DetourHome } from '@detour/daemon/client';
import type { Io } from './io.js';
import { printError } from './io.js';
import type { KubeconfigLocation, KubeTarget } from './kube-access.js';

/** Where `intercept --env-file/--env-json` write, and which cluster to read the pod's environment from. */
export interface EnvironmentRequest {
  service: string;
  envFile?: string;
  envJson?: string;
  /** `--context`/`--namespace`: given, they choose the cluster path. */
  kube: KubeTarget;
  kubeconfigLocation: KubeconfigLocation;
}

/** The environment found for the laptop copy, and where it came from (said on stderr, never the values). */
interface FoundEnvironment {
  variables: EnvVariable[];
  source: string;
  unresolved: string[];
}

/**
 * `--env-file`/`--env-json`: the service's app environment, written for the local
 * copy (mode 0600: it holds secrets) and returned for `-- COMMAND`. Where it comes
 * from, in this order (README "The app's environment"):
 * 1. `--context`/`--namespace` given, or the daemon reaches the manager through a
 *    port-forward: the service is in that cluster, so its pod's environment,
 *    read through the kubeconfig with the developer's own credentials.
 * 2. Otherwise, what the service's agents published (`detour agent --env-file`),
 *    through the manager; when none did, the pod's through the kubeconfig (a
 *    cluster whose manager is exposed at a URL), and if that fails too, both
 *    reasons in one line (the kubeconfig's first, as before this fallback).
 */
export async function writeServiceEnvironment(request: EnvironmentRequest, status: DaemonStatus, io: Io, home: DetourHome): Promise<Record<string, string>> {
  const inCluster = request.kube.context !== undefined || request.kube.namespace !== undefined || status.manager.route.kind === 'port-forward';
  const found = inCluster ? await podEnvironment(request) : await publishedOrPod(request, home);
  if (request.envFile !== undefined) await writePrivate(request.envFile, formatDotenv(found.variables));
  const values = Object.fromEntries(found.variables.map((v) => [v.name, v.value]));
  if (request.envJson !== undefined) await writePrivate(request.envJson, `${JSON.stringify(values, null, 2)}\n`);
  const where = [request.envFile, request.envJson].filter((f) => f !== undefined).join(' and ');
  printError(io, `Wrote ${found.variables.length} variables of ${found.source} to ${where}`);
  for (const line of found.unresolved) printError(io, `   not set: ${line}`);
  return values;
}

async function publishedOrPod(request: EnvironmentRequest, home: DetourHome): Promise<FoundEnvironment> {
  const client = new DaemonClient(home);
  let published: ServiceEnvironment;
  try {
    published = await client.call<ServiceEnvironment>('GET', DAEMON_PATHS.environment(request.service));
  } catch (err) {
    if (!isDetourError(err) || err.code !== 'DETOUR_ERR_ENV_NOT_PUBLISHED') throw err;
    try {
      return await podEnvironment(request);
    } catch (kubeErr) {
      // Forbidden: the service is in that cluster, and the permission is what to fix (today's cluster path, unchanged).
      // Otherwise there may be no cluster at all (plain processes): say the other way too.
      if (!isDetourError(kubeErr) || kubeErr.code === 'DETOUR_ERR_KUBE_FORBIDDEN') throw kubeErr;
      throw new DetourError(kubeErr.code, `${kubeErr.message}; and ${err.message}`, { cause: kubeErr });
    }
  } finally {
    await client.close();
  }
  return { variables: published.variables, source: `agent ${published.agentId} (published with detour agent --env-file)`, unresolved: [] };
}

async function podEnvironment(request: EnvironmentRequest): Promise<FoundEnvironment> {
  const { openKube } = await import('./kube-access.js');
  const { serviceEnvironment } = await import('./pod-environment.js');
  const kube = openKube(request.kube, request.kubeconfigLocation);
  const env = await serviceEnvironment(kube, request.service);
  return { variables: env.variables, source: `${kube.namespace}/${env.pod} (container ${env.container})`, unresolved: env.unresolved };
}

/** Writes a file only its owner can read, an existing one included: emptied and restricted before the secrets go in. */
async function writePrivate(file: string, text: string): Promise<void> {
  await writeFile(file, '', { mode: 0o600 });
  await chmod(file, 0o600);
  await writeFile(file, text);
}
