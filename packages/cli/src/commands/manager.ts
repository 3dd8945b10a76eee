import { readFile } from 'node:fs/promises';
import { DetourError, readOrCreateTokenFile } from '@detour/core';
import type { Logger } from '@detour/core';
import type { ServiceLookup } from '@detour/kube';
import { AuditLog, AuthSource, FileInterceptStore, startManager } from '@detour/manager';
import type { InterceptStore, ManagerOptions } from '@detour/manager';
import type { Io } from '../io.js';
import type { ServerLogging } from '../server-logging.js';
import { printLine } from '../io.js';

export interface ManagerCommandOptions {
  host: string;
  port: number;
  tokenFile?: string;
  authFile?: string;
  auditFile?: string;
  leaseMs: number;
  global: boolean;
  webhookPort?: number;
  webhookCert?: string;
  webhookKey?: string;
  agentImage?: string;
  agentManagerUrl?: string;
  agentTokenSecret: string;
  /** `memory` (the default), or `kubernetes`; `--state-file` means a file. */
  state?: string;
  stateFile?: string;
  namespace?: string;
  kubeconfig?: string;
  metricsPort?: number;
  metricsHost?: string;
}

/** What the entry point read from the environment for the Kubernetes store. */
export interface ClusterEnvironment {
  /** $KUBECONFIG, used when --kubeconfig is not given. */
  kubeconfig?: string;
  /** Set in every pod ($KUBERNETES_SERVICE_HOST): the ServiceAccount's credentials are there to use. */
  inCluster: boolean;
}

/** The namespace a pod runs in, as its ServiceAccount mount tells. */
const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

async function openStore(options: ManagerCommandOptions, cluster: ClusterEnvironment, logger: Logger): Promise<InterceptStore | undefined> {
  const kubernetes = options.state === 'kubernetes';
  if (kubernetes && options.stateFile !== undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--state-file and --state kubernetes exclude each other: keep intercepts in a file or in the cluster, not both');
  }
  if (!kubernetes && (options.namespace !== undefined || options.kubeconfig !== undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--namespace and --kubeconfig apply only with --state kubernetes');
  }
  if (options.stateFile !== undefined) return new FileInterceptStore(options.stateFile);
  if (!kubernetes) return undefined;
  const kubeconfig = options.kubeconfig ?? cluster.kubeconfig;
  if (kubeconfig === undefined && !cluster.inCluster) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--state kubernetes needs cluster credentials: run the manager in a pod (its ServiceAccount) or pass --kubeconfig FILE');
  }
  let namespace = options.namespace;
  if (namespace === undefined && kubeconfig === undefined) namespace = (await readFile(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').catch(() => '')).trim() || undefined;
  if (namespace === undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', '--state kubernetes needs --namespace NAME: the namespace that holds the intercepts');
  // Loaded here only: no other command, and no manager without --state kubernetes, carries the Kubernetes client.
  const { openKubeStore } = await import('@detour/manager/kube-store');
  return openKubeStore({ namespace, ...(kubeconfig === undefined ? {} : { kubeconfig }), logger });
}


/**
 * Until the manager has its Kubernetes API client, the injector cannot see the
 * namespace's Services: every review fails open (the pod is admitted unchanged,
 * with a warning) and says why. The Kubernetes side replaces this with a lookup
 * backed by its list+watch of Services.
 */
const NO_SERVICE_LOOKUP: ServiceLookup = {
  servicesIn: () => Promise.reject(new DetourError('DETOUR_ERR_WEBHOOK_NO_SERVICES', 'the manager has no Kubernetes API client to list Services with')),
};

function webhookOptions(options: ManagerCommandOptions, logger: Logger, version: string): ManagerOptions['webhook'] {
  const { webhookPort, webhookCert, webhookKey, agentImage, agentManagerUrl } = options;
  if (webhookPort === undefined) {
    if ([webhookCert, webhookKey, agentImage, agentManagerUrl].some((v) => v !== undefined)) {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-cert, --webhook-key, --agent-image and --agent-manager-url configure the injector: give --webhook-port too');
    }
    return undefined;
  }
  if (webhookCert === undefined || webhookKey === undefined || agentImage === undefined || agentManagerUrl === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-port needs --webhook-cert, --webhook-key, --agent-image and --agent-manager-url');
  }
  return {
    host: options.host,
    port: webhookPort,
    certFile: webhookCert,
    keyFile: webhookKey,
    admission: {
      services: NO_SERVICE_LOOKUP,
      options: { agentImage, managerUrl: agentManagerUrl, tokenSecret: { name: options.agentTokenSecret, key: 'token' }, version },
      logger,
    },
  };
}

/** The identities: the auth file's, or single-token mode; `mode` is the start-up line that says which. */
async function openAuth(options: ManagerCommandOptions, io: Io, logger: Logger): Promise<{ auth: AuthSource; mode: string }> {
  if (options.tokenFile !== undefined) {
    const { token, created } = await readOrCreateTokenFile(options.tokenFile);
    if (created) printLine(io, `wrote a new token to ${options.tokenFile}`);
    const mode = `single-token mode: everyone with the token in ${options.tokenFile} may do everything, as any name; use --auth-file for per-user tokens (README "Security")`;
    return { auth: AuthSource.singleToken(token), mode };
  }
  const { source, createdAdminTokenFile } = await AuthSource.open({ authFile: options.authFile!, logger });
  if (createdAdminTokenFile !== undefined) {
    printLine(io, `wrote a new auth file ${options.authFile!} with one identity, admin; its token is in ${createdAdminTokenFile} (connect with it, then \`detour token create\`)`);
  }
  return { auth: source, mode: `identities from ${options.authFile!}: ${source.book.list(Date.now()).length}; reloaded on SIGHUP and when the file changes` };
}

export async function managerCommand(options: ManagerCommandOptions, cluster: ClusterEnvironment, io: Io, { logger, ring }: ServerLogging, version: string, signal: AbortSignal): Promise<number> {
  if (options.metricsHost !== undefined && options.metricsPort === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--metrics-host needs --metrics-port: without a port no token-less metrics listener runs (/metrics on the main port needs the token)');
  }
  if ((options.tokenFile === undefined) === (options.authFile === undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', 'give --auth-file FILE (identities with their own tokens) or --token-file FILE (one shared token, for trying detour out), not both or neither');
  }
  const webhook = webhookOptions(options, logger, version);
  const store = await openStore(options, cluster, logger);
  const { auth, mode } = await openAuth(options, io, logger);
  const audit = options.auditFile === undefined ? AuditLog.toStream(io.err) : await AuditLog.toFile(options.auditFile);
  io.onReload?.(() => void auth.reload());
  const manager = await startManager({
    host: options.host,
    port: options.port,
    auth,
    audit,
    leaseMs: options.leaseMs,
    globalAllowed: options.global,
    logger,
    logRing: ring,
    version,
    processMetrics: true,
    ...(webhook === undefined ? {} : { webhook }),
    ...(store === undefined ? {} : { store }),
    ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort, metricsHost: options.metricsHost }),
  });
  printLine(io, `manager listening on ${manager.url}`);
  printLine(io, mode);
  if (manager.webhookUrl !== undefined) printLine(io, `agent injector listening on ${manager.webhookUrl}`);
  const metrics = manager.metricsAddress;
  if (metrics !== undefined) printLine(io, `manager metrics on http://${metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host}:${metrics.port}/metrics`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await manager.close();
  return 0;
}
