import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { DetourError, readOrCreateTokenFile } from '@detour/core';
import type { Logger } from '@detour/core';
import type { ServiceLookup } from '@detour/kube';
import { FileInterceptStore, startManager } from '@detour/manager';
import type { InterceptStore, ManagerOptions } from '@detour/manager';
import type { Io } from '../io.js';
import type { ServerLogging } from '../server-logging.js';
import { printLine } from '../io.js';
import { readPemFlag } from '../manager-flags.js';
import { managerEndpoint } from '@detour/transport';

export interface ManagerCommandOptions {
  host: string;
  port: number;
  tokenFile: string;
  leaseMs: number;
  global: boolean;
  webhookPort?: number;
  webhookCert?: string;
  webhookKey?: string;
  agentImage?: string;
  agentManagerUrl?: string;
  agentTokenSecret: string;
  agentManagerCaSecret?: string;
  agentInsecure: boolean;
  /** `memory` (the default), or `kubernetes`; `--state-file` means a file. */
  state?: string;
  stateFile?: string;
  namespace?: string;
  kubeconfig?: string;
  metricsPort?: number;
  metricsHost?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  signedKeys: boolean;
  signedKeyTtl?: string;
  signedKeyRotation?: string;
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
    if ([webhookCert, webhookKey, agentImage, agentManagerUrl, options.agentManagerCaSecret].some((v) => v !== undefined) || options.agentInsecure) {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-cert, --webhook-key, --agent-image and --agent-manager-url configure the injector: give --webhook-port too');
    }
    return undefined;
  }
  if (webhookCert === undefined || webhookKey === undefined || agentImage === undefined || agentManagerUrl === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-port needs --webhook-cert, --webhook-key, --agent-image and --agent-manager-url');
  }
  // Injected agents would refuse a cleartext token off loopback at start: refuse the same here, in the same words.
  const agentManager = managerEndpoint(agentManagerUrl, { insecure: options.agentInsecure }, { manager: '--agent-manager-url', ca: '--agent-manager-ca-secret' });
  if (options.agentManagerCaSecret !== undefined && agentManager.tls === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `--agent-manager-ca-secret verifies an https:// manager, but --agent-manager-url is ${agentManager.origin}`);
  }
  return {
    host: options.host,
    port: webhookPort,
    certFile: webhookCert,
    keyFile: webhookKey,
    admission: {
      services: NO_SERVICE_LOOKUP,
      options: {
        agentImage,
        managerUrl: agentManager.origin,
        tokenSecret: { name: options.agentTokenSecret, key: 'token' },
        version,
        ...(options.agentManagerCaSecret === undefined ? {} : { managerCaSecret: { name: options.agentManagerCaSecret, key: 'ca.crt' } }),
        ...(agentManager.cleartextWarning === undefined ? {} : { insecure: true }),
      },
      logger,
    },
  };
}

async function tlsOptions(options: ManagerCommandOptions): Promise<ManagerOptions['tls']> {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--tls-cert and --tls-key go together: give both (the certificate chain and its key) or neither');
  }
  if (options.tlsCert === undefined) {
    if (options.clientCa !== undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', '--client-ca needs --tls-cert and --tls-key: client certificates are checked in the TLS handshake');
    return undefined;
  }
  const [cert, key, clientCa] = await Promise.all([readPemFlag('--tls-cert', options.tlsCert), readPemFlag('--tls-key', options.tlsKey), readPemFlag('--client-ca', options.clientCa)]);
  try {
    createSecureContext({ cert, key, ...(clientCa === undefined ? {} : { ca: clientCa }) });
  } catch (err) {
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `--tls-cert/--tls-key${clientCa === undefined ? '' : '/--client-ca'} are not a usable PEM certificate, key and CA: ${(err as Error).message}`, { cause: err });
  }
  return { cert: cert!, key: key!, ...(clientCa === undefined ? {} : { clientCa }) };
}

const DURATION = /^([0-9]{1,6})(s|m|h|d)$/;
const DURATION_UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function duration(flag: string, text: string, minMs: number, maxMs: number): number {
  const match = DURATION.exec(text);
  const ms = match === null ? Number.NaN : Number(match[1]) * DURATION_UNIT_MS[match[2]!]!;
  if (!(ms >= minMs && ms <= maxMs)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad ${flag} ${JSON.stringify(text)}: use a whole number and s, m, h or d (e.g. 12h, 7d), from ${minMs / 1000}s to ${maxMs / 86_400_000}d`);
  }
  return ms;
}

/** setInterval's longest delay (2^31 - 1 ms) bounds the rotation period. */
const MAX_ROTATION_MS = 24 * 86_400_000;

function signedKeyOptions(options: ManagerCommandOptions): ManagerOptions['signedKeys'] {
  if (!options.signedKeys) {
    if (options.signedKeyTtl !== undefined || options.signedKeyRotation !== undefined) {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', '--signed-key-ttl and --signed-key-rotation configure signed header values: give --signed-keys too');
    }
    return undefined;
  }
  return {
    ...(options.signedKeyTtl === undefined ? {} : { valueTtlMs: duration('--signed-key-ttl', options.signedKeyTtl, 10_000, 365 * 86_400_000) }),
    ...(options.signedKeyRotation === undefined ? {} : { rotationMs: duration('--signed-key-rotation', options.signedKeyRotation, 1_000, MAX_ROTATION_MS) }),
  };
}

export async function managerCommand(options: ManagerCommandOptions, cluster: ClusterEnvironment, io: Io, { logger, ring }: ServerLogging, version: string, signal: AbortSignal): Promise<number> {
  if (options.metricsHost !== undefined && options.metricsPort === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--metrics-host needs --metrics-port: without a port no token-less metrics listener runs (/metrics on the main port needs the token)');
  }
  const webhook = webhookOptions(options, logger, version);
  const tls = await tlsOptions(options);
  const signedKeys = signedKeyOptions(options);
  const store = await openStore(options, cluster, logger);
  const { token, created } = await readOrCreateTokenFile(options.tokenFile);
  if (created) printLine(io, `wrote a new token to ${options.tokenFile}`);
  const manager = await startManager({
    host: options.host,
    port: options.port,
    token,
    leaseMs: options.leaseMs,
    globalAllowed: options.global,
    logger,
    logRing: ring,
    version,
    processMetrics: true,
    ...(webhook === undefined ? {} : { webhook }),
    ...(store === undefined ? {} : { store }),
    ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort, metricsHost: options.metricsHost }),
    ...(tls === undefined ? {} : { tls }),
    ...(signedKeys === undefined ? {} : { signedKeys }),
  });
  printLine(io, `manager listening on ${manager.url}`);
  if (manager.webhookUrl !== undefined) printLine(io, `agent injector listening on ${manager.webhookUrl}`);
  const metrics = manager.metricsAddress;
  if (metrics !== undefined) printLine(io, `manager metrics on http://${metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host}:${metrics.port}/metrics`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await manager.close();
  return 0;
}
