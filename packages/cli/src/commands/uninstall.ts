import { DetourError } from '@detour/core';
import type { Io } from '../io.js';
import { printLine } from '../io.js';

export interface UninstallCommandOptions {
  service?: string;
  all?: boolean;
  namespace?: string;
  kubeconfig?: string;
}

/**
 * `detour uninstall --service NAME | --all`: puts a namespace's workloads and
 * Services back as they were before detour (see `uninstall` in
 * @detour/kube/cluster), with the user's own cluster credentials.
 */
export async function uninstallCommand(options: UninstallCommandOptions, environmentKubeconfig: string | undefined, io: Io): Promise<number> {
  if ((options.service === undefined) === (options.all !== true)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', 'give --service NAME (one Service and the workloads it selects) or --all (everything detour changed in the namespace)');
  }
  const kubeconfig = options.kubeconfig ?? environmentKubeconfig;
  // The Kubernetes client is loaded by this command only.
  const { describeApiError, loadUserKubeConfig, uninstall } = await import('@detour/kube/cluster');
  let config;
  try {
    config = loadUserKubeConfig(kubeconfig);
  } catch (err) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `no cluster credentials (${(err as Error).message}): pass --kubeconfig FILE or set $KUBECONFIG`, { cause: err });
  }
  const namespace = options.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
  let report;
  try {
    report = await uninstall(config, { namespace, ...(options.service === undefined ? {} : { service: options.service }) });
  } catch (err) {
    if (err instanceof DetourError) throw err;
    throw new DetourError('DETOUR_ERR_UNINSTALL_FAILED', `uninstall in namespace ${namespace}: ${describeApiError(err)}`, { cause: err });
  }
  for (const line of report.changes) printLine(io, line);
  if (report.changes.length === 0) printLine(io, `nothing of detour's to undo in namespace ${namespace}${options.service === undefined ? '' : ` for Service ${options.service}`}`);
  for (const note of report.notes) printLine(io, `note: ${note}`);
  return 0;
}
