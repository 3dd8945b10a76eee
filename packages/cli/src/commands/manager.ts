import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { DetourError, readOrCreateTokenFile } from '@detour/core';
import type { Logger } from '@detour/core';
import { isIP } from 'node:net';
import type { ManagerCluster } from '@detour/kube/cluster';
import { startGateway } from '@detour/gateway';
import { AuditLog, AuthSource, FileInterceptStore, startManager } from '@detour/manager';
import type { EgressOptions, InterceptStore, ManagerOptions } from '@detour/manager';
import type { Io } from '../io.js';
import type { ServerLogging } from '../server-logging.js';
import { printLine } from '../io.js';
import { parseDuration } from '../duration.js';
import { readPemFlag } from '../manager-flags.js';
import { managerEndpoint } from '@detour/transport';
import type { ManagerEndpoint } from '@detour/transport';

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
  /** JSON of each agent container's `resources` (requests and limits). */
  agentResources?: string;
  /** The namespaces whose pods the injector serves (repeatable); default: the manager's namespace. */
  injectNamespace: string[];
  /** `memory` (the default), or `kubernetes`; `--state-file` means a file. */
  state?: string;
  stateFile?: string;
  namespace?: string;
  kubeconfig?: string;
  metricsPort?: number;
  metricsHost?: string;
  agentManagerCaSecret?: string;
  agentInsecure: boolean;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  signedKeys: boolean;
  signedKeyTtl?: string;
  signedKeyRotation?: string;
  /** Serve the preview gateway in this process too, on this port. */
  previewListen?: number;
  previewDomain: string;
  /** The gateway's public origin as visitors reach it; default with --preview-listen: http://<domain>:<port>. */
  previewUrl?: string;
  previewBanner: boolean;
  egress: 'agents' | 'cluster';
  clusterDomain: string;
  egressNamespace: string[];
  serviceCidr: string[];
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

/** The credentials and namespace the Kubernetes side uses, resolved once for the store and the injector. */
interface ClusterAccess {
  kubeconfig?: string;
  /** --namespace, else the pod's own (its ServiceAccount mount); undefined outside a pod without --namespace. */
  namespace?: string;
}

async function clusterAccess(options: ManagerCommandOptions, cluster: ClusterEnvironment, needed: string): Promise<ClusterAccess> {
  const kubeconfig = options.kubeconfig ?? cluster.kubeconfig;
  if (kubeconfig === undefined && !cluster.inCluster) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `${needed} needs cluster credentials: run the manager in a pod (its ServiceAccount) or pass --kubeconfig FILE`);
  }
  let namespace = options.namespace;
  if (namespace === undefined && kubeconfig === undefined) namespace = (await readFile(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').catch(() => '')).trim() || undefined;
  return { ...(kubeconfig === undefined ? {} : { kubeconfig }), ...(namespace === undefined ? {} : { namespace }) };
}

async function openStore(options: ManagerCommandOptions, access: ClusterAccess | undefined, logger: Logger): Promise<InterceptStore | undefined> {
  if (options.stateFile !== undefined) return new FileInterceptStore(options.stateFile);
  if (options.state !== 'kubernetes' || access === undefined) return undefined;
  if (access.namespace === undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', '--state kubernetes needs --namespace NAME: the namespace that holds the intercepts');
  // Loaded here only: no other command, and no manager without --state kubernetes, carries the Kubernetes client.
  const { openKubeStore } = await import('@detour/manager/kube-store');
  return openKubeStore({ namespace: access.namespace, ...(access.kubeconfig === undefined ? {} : { kubeconfig: access.kubeconfig }), logger });
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$/;

/**
 * `--agent-resources`: a container's `resources` with `requests` and/or `limits`, each a map
 * of resource names to Kubernetes quantities. Checked here, so that a typo is one line at
 * start-up rather than every pod failing its creation.
 */
function parseAgentResources(text: string): Record<string, Record<string, string>> {
  const bad = (why: string) => new DetourError('DETOUR_ERR_CLI_USAGE', `--agent-resources ${text}: ${why}; e.g. {"requests":{"cpu":"10m","memory":"32Mi"},"limits":{"memory":"128Mi"}}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not a JSON object');
  for (const [section, values] of Object.entries(parsed)) {
    if (section !== 'requests' && section !== 'limits') throw bad(`${section} is neither requests nor limits`);
    if (typeof values !== 'object' || values === null || Array.isArray(values)) throw bad(`${section} is not an object`);
    for (const [name, quantity] of Object.entries(values as Record<string, unknown>)) {
      if (typeof quantity !== 'string' || !QUANTITY.test(quantity)) throw bad(`${section}.${name} is not a quantity like "100m" or "64Mi"`);
    }
  }
  return parsed as Record<string, Record<string, string>>;
}

/** The flag combinations that are wrong whatever the cluster says, checked before reaching for credentials. */
function checkFlags(options: ManagerCommandOptions): void {
  if (options.state === 'kubernetes' && options.stateFile !== undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--state-file and --state kubernetes exclude each other: keep intercepts in a file or in the cluster, not both');
  }
  const { webhookPort, webhookCert, webhookKey, agentImage, agentManagerUrl } = options;
  if (webhookPort === undefined) {
    if ([webhookCert, webhookKey, agentImage, agentManagerUrl, options.agentResources, options.agentManagerCaSecret].some((v) => v !== undefined) || options.injectNamespace.length > 0 || options.agentInsecure) {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-cert, --webhook-key, --agent-image, --agent-manager-url, --agent-resources, --agent-manager-ca-secret, --agent-insecure and --inject-namespace configure the injector: give --webhook-port too');
    }
  } else if (webhookCert === undefined || webhookKey === undefined || agentImage === undefined || agentManagerUrl === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-port needs --webhook-cert, --webhook-key, --agent-image and --agent-manager-url');
  }
  if (options.agentResources !== undefined) parseAgentResources(options.agentResources);
  if (agentManagerUrl !== undefined) agentManager(options, agentManagerUrl);
}

/**
 * The manager as injected agents reach it. They would refuse a cleartext token off loopback at
 * start, so the injector refuses the same here, in the same words (transport's managerEndpoint).
 */
function agentManager(options: ManagerCommandOptions, url: string): ManagerEndpoint {
  const endpoint = managerEndpoint(url, { insecure: options.agentInsecure }, { manager: '--agent-manager-url', ca: '--agent-manager-ca-secret', insecure: '--agent-insecure' });
  if (options.agentManagerCaSecret !== undefined && endpoint.tls === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `--agent-manager-ca-secret verifies an https:// manager, but --agent-manager-url is ${endpoint.origin}`);
  }
  return endpoint;
}

interface Injector {
  webhook: NonNullable<ManagerOptions['webhook']>;
  cluster: ManagerCluster;
}

/** The injector: its HTTPS options and the Kubernetes side it reads Services from (and patches them, and writes Events with). */
async function openInjector(options: ManagerCommandOptions, access: ClusterAccess | undefined, logger: Logger, version: string): Promise<Injector | undefined> {
  const { webhookPort, webhookCert, webhookKey, agentImage, agentManagerUrl } = options;
  if (webhookPort === undefined || webhookCert === undefined || webhookKey === undefined || agentImage === undefined || agentManagerUrl === undefined) return undefined;
  const namespaces = options.injectNamespace.length > 0 ? options.injectNamespace : access?.namespace === undefined ? [] : [access.namespace];
  if (access === undefined || namespaces.length === 0) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-port needs --inject-namespace NAME (repeatable): the namespaces whose pods get agents');
  }
  const agentsManager = agentManager(options, agentManagerUrl);
  // Loaded only for a manager that injects: the Kubernetes client stays out of every other command.
  const { startManagerCluster } = await import('@detour/kube/cluster');
  const cluster = await startManagerCluster({ namespaces, ...(access.kubeconfig === undefined ? {} : { kubeconfig: access.kubeconfig }), logger });
  return {
    cluster,
    webhook: {
      host: options.host,
      port: webhookPort,
      certFile: webhookCert,
      keyFile: webhookKey,
      admission: {
        services: cluster.services,
        hooks: cluster.hooks,
        options: {
          agentImage,
          managerUrl: agentsManager.origin,
          tokenSecret: { name: options.agentTokenSecret, key: 'token' },
          version,
          ...(options.agentManagerCaSecret === undefined ? {} : { managerCaSecret: { name: options.agentManagerCaSecret, key: 'ca.crt' } }),
          ...(agentsManager.cleartextWarning === undefined ? {} : { insecure: true }),
          ...(options.agentResources === undefined ? {} : { resources: parseAgentResources(options.agentResources) }),
        },
        logger,
      },
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
    ...(options.signedKeyTtl === undefined ? {} : { valueTtlMs: parseDuration('--signed-key-ttl', options.signedKeyTtl, { minMs: 10_000, maxMs: 365 * 86_400_000 }) }),
    ...(options.signedKeyRotation === undefined ? {} : { rotationMs: parseDuration('--signed-key-rotation', options.signedKeyRotation, { minMs: 1_000, maxMs: MAX_ROTATION_MS }) }),
  };
}

/**
 * Where developers' outbound calls may go. In a cluster the manager's own namespace
 * counts for `SERVICE.NAMESPACE` names even when not listed, as the pod's DNS search path has it.
 */
async function egressOptions(options: ManagerCommandOptions, cluster: ClusterEnvironment): Promise<EgressOptions> {
  for (const cidr of options.serviceCidr) {
    const [network, bits, extra] = cidr.split('/');
    const family = isIP(network ?? '');
    const n = Number(bits);
    if (extra !== undefined || family === 0 || !Number.isInteger(n) || n < 0 || n > (family === 4 ? 32 : 128)) {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', `--service-cidr ${JSON.stringify(cidr)} is not a CIDR such as 10.96.0.0/12`);
    }
  }
  if (options.egress === 'agents' && (options.egressNamespace.length > 0 || options.serviceCidr.length > 0)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--egress-namespace and --service-cidr apply only with --egress cluster (the manager runs in the cluster)');
  }
  const namespaces = new Set(options.egressNamespace);
  if (options.egress === 'cluster' && cluster.inCluster) {
    const own = (await readFile(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').catch(() => '')).trim();
    if (own !== '') namespaces.add(own);
  }
  return { mode: options.egress, clusterDomain: options.clusterDomain, namespaces: [...namespaces], serviceCidrs: options.serviceCidr };
}

export async function managerCommand(options: ManagerCommandOptions, cluster: ClusterEnvironment, io: Io, { logger, ring }: ServerLogging, version: string, signal: AbortSignal): Promise<number> {
  if (options.metricsHost !== undefined && options.metricsPort === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--metrics-host needs --metrics-port: without a port no token-less metrics listener runs (/metrics on the main port needs the token)');
  }
  checkFlags(options);
  if ((options.tokenFile === undefined) === (options.authFile === undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', 'give --auth-file FILE (identities with their own tokens) or --token-file FILE (one shared token, for trying detour out), not both or neither');
  }
  const tls = await tlsOptions(options);
  const signedKeys = signedKeyOptions(options);
  const egress = await egressOptions(options, cluster);
  const kubernetes = options.state === 'kubernetes';
  const injects = options.webhookPort !== undefined;
  if (!kubernetes && !injects && (options.namespace !== undefined || options.kubeconfig !== undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--namespace and --kubeconfig apply only with --state kubernetes or --webhook-port');
  }
  const access = kubernetes || injects ? await clusterAccess(options, cluster, kubernetes ? '--state kubernetes' : '--webhook-port') : undefined;
  const store = await openStore(options, access, logger);
  const { auth, mode } = await openAuth(options, io, logger);
  const audit = options.auditFile === undefined ? AuditLog.toStream(io.err) : await AuditLog.toFile(options.auditFile);
  io.onReload?.(() => void auth.reload());
  if (options.previewUrl !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(options.previewUrl)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --preview-url ${JSON.stringify(options.previewUrl)}: give the gateway's public origin, e.g. https://preview.example.test`);
  }
  // Last before the manager starts: from here on its watches run, and a failure must close them.
  const injector = await openInjector(options, access, logger, version);
  const webhook = injector?.webhook;
  // The gateway listens first, so that its port is known for the links the manager prints; it asks the manager once that listens.
  const listening: { url?: string } = {};
  let manager: Awaited<ReturnType<typeof startManager>>;
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  let previewUrl: string | undefined;
  try {
    gateway =
      options.previewListen === undefined
        ? undefined
        : await startGateway({
            host: options.host,
            port: options.previewListen,
            domain: options.previewDomain,
            manager: () => (listening.url === undefined ? undefined : managerEndpoint(listening.url, { sameProcess: true })),
            // The in-process gateway holds its own agent credential (never written anywhere), as an agent would.
            token: auth.processToken('preview-gateway', 'agent'),
            banner: options.previewBanner,
            logger,
          });
    previewUrl = options.previewUrl ?? (gateway === undefined ? undefined : `http://${options.previewDomain}:${gateway.address.port}`);
    manager = await startManager({
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
      egress,
      ...(webhook === undefined ? {} : { webhook }),
      ...(injector === undefined ? {} : { interceptObserver: { restored: (list) => injector.cluster.interceptsRestored(list), changed: (list) => injector.cluster.interceptsChanged(list) } }),
      ...(store === undefined ? {} : { store }),
      ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort, metricsHost: options.metricsHost }),
      ...(tls === undefined ? {} : { tls }),
      ...(signedKeys === undefined ? {} : { signedKeys }),
      ...(previewUrl === undefined ? {} : { previewUrl }),
    });
  } catch (err) {
    // The caches' watches would keep the process alive, and so would the gateway's listener.
    await gateway?.close();
    await injector?.cluster.close();
    throw err;
  }
  listening.url = manager.url;
  printLine(io, `manager listening on ${manager.url}`);
  printLine(io, mode);
  if (gateway !== undefined) printLine(io, `preview gateway listening on ${gateway.url} (previews at ${previewUrl})`);
  if (manager.webhookUrl !== undefined) printLine(io, `agent injector listening on ${manager.webhookUrl}`);
  const metrics = manager.metricsAddress;
  if (metrics !== undefined) printLine(io, `manager metrics on http://${metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host}:${metrics.port}/metrics`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await gateway?.close();
  await manager.close();
  await injector?.cluster.close();
  return 0;
}
