import { DetourError } from '@detour/core';
import type { Io } from '../io.js';
import { printLine } from '../io.js';

export interface UninstallCommandOptions {
  service?: string;
  all?: boolean;
  /** Repeatable; empty means the kubeconfig context's namespace. */
  namespace: string[];
  servicesOnly?: boolean;
  interceptsNamespace?: string;
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
  const { deleteIntercepts, describeApiError, loadUserKubeConfig, uninstall } = await import('@detour/kube/cluster');
  let config;
  try {
    config = loadUserKubeConfig(kubeconfig);
  } catch (err) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `no cluster credentials (${(err as Error).message}): pass --kubeconfig FILE or set $KUBECONFIG`, { cause: err });
  }
  const namespaces = options.namespace.length > 0 ? options.namespace : [config.getContextObject(config.getCurrentContext())?.namespace ?? 'default'];
  const fail = (where: string, err: unknown): never => {
    if (err instanceof DetourError) throw err;
    throw new DetourError('DETOUR_ERR_UNINSTALL_FAILED', `uninstall in ${where}: ${describeApiError(err)}`, { cause: err });
  };
  for (const namespace of namespaces) {
    const report = await uninstall(config, { namespace, ...(options.service === undefined ? {} : { service: options.service }), ...(options.servicesOnly === true ? { servicesOnly: true } : {}) }).catch((err: unknown) => fail(`namespace ${namespace}`, err));
    for (const line of report.changes) printLine(io, line);
    if (report.changes.length === 0) printLine(io, `nothing of detour's to undo in namespace ${namespace}${options.service === undefined ? '' : ` for Service ${options.service}`}`);
    for (const note of report.notes) printLine(io, `note: ${note}`);
  }
  if (options.interceptsNamespace !== undefined) {
    const namespace = options.interceptsNamespace;
    for (const line of await deleteIntercepts(config, namespace).catch((err: unknown) => fail(`the intercepts of namespace ${namespace}`, err))) printLine(io, line);
  }
  return 0;
}
