import { DetourError, isDetourError, isUserError } from '@detour/core';
import type { Logger } from '@detour/core';
import { runDaemon } from '@detour/daemon';
import type { DaemonOptions } from '@detour/daemon';
import type { DetourHome } from '@detour/daemon/client';
import type { KubeconfigLocation } from '../kube-access.js';
import type { DaemonStartMessage } from './connect.js';
import { managerFromFlags, readPemFlag } from '../manager-flags.js';
import { managerEndpoint } from '@detour/transport';

export interface DaemonCommandOptions {
  name: string;
  /** Direct: the manager's URL and token file, and how to verify it (--manager-ca) or that cleartext is meant (--insecure). */
  manager?: string;
  tokenFile?: string;
  managerCa?: string;
  insecure?: boolean;
  /** Through the kubeconfig: a port-forward to the manager in this context and namespace. */
  kubeContext?: string;
  kubeNamespace?: string;
}

/** The manager's URL and token, directly or through a port-forward whose token comes from the chart's Secret. */
async function managerAccess(options: DaemonCommandOptions, kubeEnv: KubeconfigLocation, logger: Logger): Promise<Pick<DaemonOptions, 'manager' | 'token' | 'route'>> {
  if (options.manager !== undefined && options.tokenFile !== undefined) {
    // No terminal here (connect printed the --insecure warning); runDaemon logs it.
    const { endpoint } = await managerFromFlags({ manager: options.manager, managerCa: options.managerCa, insecure: options.insecure }, undefined);
    return { manager: endpoint, token: { file: options.tokenFile } };
  }
  const { openKube } = await import('../kube-access.js');
  const { findManagerService, readManagerCa, readManagerToken, startManagerForward } = await import('../kube-manager.js');
  const kube = openKube({ ...(options.kubeContext === undefined ? {} : { context: options.kubeContext }), ...(options.kubeNamespace === undefined ? {} : { namespace: options.kubeNamespace }) }, kubeEnv);
  const service = await findManagerService(kube);
  if (!service.tls && options.managerCa !== undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `--manager-ca verifies a manager that serves TLS, but the manager Service ${service.name} in namespace ${kube.namespace} serves plain HTTP (chart tls.enabled is off); drop --manager-ca`);
  }
  const token = await readManagerToken(kube, service, options.name);
  // --manager-ca overrides the chart's CA Secret (which may then stay unreadable).
  const ca = service.tls ? ((await readPemFlag('--manager-ca', options.managerCa)) ?? (await readManagerCa(kube, service))) : undefined;
  const route = await startManagerForward(kube, service, logger);
  // The forward's local end is on loopback; the certificate is checked against the Service's name.
  const manager = managerEndpoint(route.url, service.tls ? { ...(ca === undefined ? {} : { ca }), servername: service.serverName } : {});
  return { manager, token: { value: token }, route };
}

/** Runs the daemon in the foreground; `detour connect` starts it this way in the background. */
export async function daemonCommand(options: DaemonCommandOptions, kubeEnv: KubeconfigLocation, home: DetourHome, logger: Logger, version: string, signal: AbortSignal): Promise<number> {
  const tell = (message: DaemonStartMessage) => {
    if (process.send !== undefined && process.connected) process.send(message);
  };
  try {
    const access = await managerAccess(options, kubeEnv, logger);
    await runDaemon({ ...access, name: options.name, home, version, logger, onReady: () => tell({ type: 'ready' }) }, signal);
    return 0;
  } catch (err) {
    logger.error({ err }, 'daemon failed');
    if (isUserError(err)) tell({ type: 'failed', code: err.code, message: err.message });
    else tell({ type: 'failed', code: 'DETOUR_ERR_INTERNAL_BUG', message: `${isDetourError(err) ? err.message : String(err)} (a bug: the stack is in ${home.logPath})` });
    return 2;
  }
}
