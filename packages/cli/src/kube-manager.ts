import net from 'node:net';
import { Writable } from 'node:stream';
import { PortForward } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { ManagerRoute } from '@detour/daemon';
import { kubeCallError } from './kube-access.js';
import type { KubeAccess } from './kube-access.js';

/** The chart's labels on the manager's Service (charts/detour/templates/_helpers.tpl, detour.labels). */
const MANAGER_LABELS = { 'app.kubernetes.io/part-of': 'detour', 'app.kubernetes.io/component': 'manager' } as const;
/** The chart's Service port of the API (`api`), and its token Secrets' key: `<service>-token` (shared), `<service>-token-<name>` (per user). */
const API_PORT_NAME = 'api';
const TOKEN_KEY = 'token';
/** With `tls.enabled` the chart marks the `api` port `appProtocol: https`, and copies `tls.caBundle` into `<service>-manager-ca` (key ca.crt). */
const TLS_APP_PROTOCOL = 'https';
const CA_KEY = 'ca.crt';

export interface ManagerService {
  name: string;
  selector: Record<string, string>;
  /** The pod port behind the Service's `api` port: a name or a number. */
  targetPort: string | number;
  /** The manager serves TLS on that port (chart `tls.enabled`): reached with https, verified as {@link ManagerService.serverName}. */
  tls: boolean;
  /** The name the manager's certificate is issued for: the Service's in-cluster DNS name, `RELEASE-detour.NAMESPACE.svc`. */
  serverName: string;
}

const labelled = (labels: Record<string, string> | undefined, wanted: Record<string, string>) => Object.entries(wanted).every(([k, v]) => labels?.[k] === v);

/** The detour manager's Service in the namespace, found by the chart's labels. */
export async function findManagerService(kube: KubeAccess): Promise<ManagerService> {
  const labelSelector = Object.entries(MANAGER_LABELS).map(([k, v]) => `${k}=${v}`).join(',');
  let items;
  try {
    items = (await kube.core.listNamespacedService({ namespace: kube.namespace, labelSelector })).items;
  } catch (err) {
    throw kubeCallError(err, kube, 'list', 'services');
  }
  const service = items.find((s) => labelled(s.metadata?.labels, MANAGER_LABELS));
  const port = service?.spec?.ports?.find((p) => p.name === API_PORT_NAME) ?? service?.spec?.ports?.[0];
  if (service?.metadata?.name === undefined || service.spec?.selector === undefined || port === undefined) {
    throw new DetourError(
      'DETOUR_ERR_KUBE_NO_MANAGER',
      `no detour manager Service in namespace ${kube.namespace} (context ${kube.context}); pass --namespace where the chart is installed, or install it (\`helm install detour charts/detour -n ${kube.namespace}\`)`,
    );
  }
  return {
    name: service.metadata.name,
    selector: service.spec.selector,
    targetPort: port.targetPort ?? port.port,
    tls: port.appProtocol === TLS_APP_PROTOCOL,
    serverName: `${service.metadata.name}.${kube.namespace}.svc`,
  };
}

/**
 * The CA that verifies a TLS manager: the chart's `<service>-manager-ca` Secret (its
 * `tls.caBundle`), read with the developer's credentials as the token is. None (undefined):
 * the chart was given no caBundle, so the certificate is from a CA the system trusts.
 */
export async function readManagerCa(kube: KubeAccess, service: ManagerService): Promise<Buffer | undefined> {
  const name = `${service.name}-manager-ca`;
  let data: Record<string, string> | undefined;
  try {
    data = (await kube.core.readNamespacedSecret({ name, namespace: kube.namespace })).data;
  } catch (err) {
    const failure = kubeCallError(err, kube, 'get', 'secrets', name);
    if (failure.code === 'DETOUR_ERR_KUBE_NO_WORKLOAD') return undefined;
    if (failure.code === 'DETOUR_ERR_KUBE_FORBIDDEN') throw new DetourError(failure.code, `${failure.message}, or pass --manager-ca FILE with the CA that signed the manager's certificate`, { cause: err });
    throw failure;
  }
  const encoded = data?.[CA_KEY];
  if (encoded === undefined) throw new DetourError('DETOUR_ERR_KUBE_NO_MANAGER', `the Secret ${name} in namespace ${kube.namespace} has no key ${CA_KEY}; reinstall the chart with tls.caBundle, or pass --manager-ca FILE`);
  return Buffer.from(encoded, 'base64');
}

/**
 * The token to connect with, read with the developer's own credentials (RBAC decides who may
 * connect): their own identity's Secret `<service>-token-<name>` when the chart keeps per-user
 * tokens (`auth.enabled`), else the shared `<service>-token`.
 */
export async function readManagerToken(kube: KubeAccess, service: ManagerService, name: string): Promise<string> {
  try {
    return await readTokenSecret(kube, `${service.name}-token-${name}`);
  } catch (err) {
    // No Secret of one's own (single-token mode), or RBAC shows only the shared one.
    if (!isDetourError(err) || (err.code !== 'DETOUR_ERR_KUBE_NO_WORKLOAD' && err.code !== 'DETOUR_ERR_KUBE_FORBIDDEN')) throw err;
  }
  return readTokenSecret(kube, `${service.name}-token`);
}

async function readTokenSecret(kube: KubeAccess, name: string): Promise<string> {
  let data: Record<string, string> | undefined;
  try {
    data = (await kube.core.readNamespacedSecret({ name, namespace: kube.namespace })).data;
  } catch (err) {
    throw kubeCallError(err, kube, 'get', 'secrets', name);
  }
  const encoded = data?.[TOKEN_KEY];
  if (encoded === undefined) throw new DetourError('DETOUR_ERR_KUBE_NO_MANAGER', `the Secret ${name} in namespace ${kube.namespace} has no key ${TOKEN_KEY}; reinstall the chart or set token.existingSecret`);
  return Buffer.from(encoded, 'base64').toString('utf8').trim();
}

/**
 * A port-forward to the manager through the API server, as `kubectl port-forward`
 * does: a local port on 127.0.0.1 whose every connection is one port-forward
 * WebSocket (client-node's PortForward) to a running manager pod. The daemon's
 * API pool, tunnel and outbound session all dial the local port, so a dropped
 * forward is a dropped manager connection, re-established by the daemon's own
 * reconnect with backoff; the pod is looked up again when a forward fails.
 */
export async function startManagerForward(kube: KubeAccess, service: ManagerService, logger: Logger): Promise<ManagerRoute & { url: string }> {
  const forwarder = new PortForward(kube.config, true);
  let target: { pod: string; port: number } | undefined;
  let lastError: string | undefined;
  const sockets = new Set<net.Socket>();

  const resolveTarget = async (): Promise<{ pod: string; port: number }> => {
    if (target !== undefined) return target;
    let pods: V1Pod[];
    try {
      pods = (await kube.core.listNamespacedPod({ namespace: kube.namespace, labelSelector: Object.entries(service.selector).map(([k, v]) => `${k}=${v}`).join(',') })).items;
    } catch (err) {
      throw kubeCallError(err, kube, 'list', 'pods');
    }
    const pod = pods.find((p) => p.status?.phase === 'Running' && p.metadata?.deletionTimestamp === undefined && labelled(p.metadata?.labels, service.selector));
    if (pod?.metadata?.name === undefined) {
      throw new DetourError('DETOUR_ERR_KUBE_NO_MANAGER', `no running manager pod behind Service ${service.name} in namespace ${kube.namespace}; check \`kubectl get pods -n ${kube.namespace}\``);
    }
    const named = pod.spec?.containers.flatMap((c) => c.ports ?? []).find((p) => p.name === service.targetPort)?.containerPort;
    const port = typeof service.targetPort === 'number' ? service.targetPort : named;
    if (port === undefined) throw new DetourError('DETOUR_ERR_KUBE_NO_MANAGER', `the manager pod ${pod.metadata.name} has no port named ${String(service.targetPort)}`);
    target = { pod: pod.metadata.name, port };
    return target;
  };

  const carry = async (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.pause();
    socket.on('error', () => socket.destroy());
    try {
      const { pod, port } = await resolveTarget();
      const errors = new Writable({
        write(chunk: Buffer, _encoding, done) {
          // client-node passes on the error channel's opening frame (the port number) as an empty chunk.
          if (chunk.length === 0) return done();
          lastError = `port-forward to ${pod}: ${chunk.toString('utf8')}`;
          socket.destroy();
          done();
        },
      });
      const ws = (await forwarder.portForward(kube.namespace, pod, [port], socket, errors, socket)) as unknown as { on(event: 'close', listener: () => void): void; close(): void };
      // client-node ends nothing when the WebSocket goes: the connection must, so its user (the tunnel) notices at once.
      ws.on('close', () => socket.destroy());
      socket.once('close', () => ws.close());
      socket.resume();
    } catch (err) {
      // The pod may be gone (a rollout): look it up again next time.
      target = undefined;
      lastError = `port-forward through context ${kube.context}: ${(err as Error).message}`;
      logger.warn({ err: lastError }, 'port-forward to the manager failed; the daemon retries with backoff');
      socket.destroy();
    }
  };

  // Resolved now, so `detour connect` reports a missing manager or pod at once.
  await resolveTarget();
  const server = net.createServer((socket) => void carry(socket));
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    // The forward carries bytes: TLS, when the manager serves it, runs end to end through it.
    url: `${service.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    describe: () => ({ kind: 'port-forward', context: kube.context, namespace: kube.namespace, service: service.name, ...(target === undefined ? {} : { pod: target.pod }), ...(lastError === undefined ? {} : { lastError }) }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
