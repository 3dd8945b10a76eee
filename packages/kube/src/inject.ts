import type { AgentProtocol } from '@detour/protocol';
import type { Container, ContainerPort, LifecycleHandler, PodSpec, PodTemplate, Probe, Service, ServicePort } from './objects.js';
import { isRecord } from './objects.js';
import {
  AGENT_CONTAINER_PREFIX,
  INJECTED_ANNOTATION,
  TOKEN_FILE,
  TOKEN_MOUNT_PATH,
  TOKEN_VOLUME,
  MANAGER_CA_FILE,
  MANAGER_CA_MOUNT_PATH,
  MANAGER_CA_VOLUME,
  agentPortNameForNumber,
  appPortName,
  numberOfAgentPortName,
  isValidPortName,
} from './names.js';
import { servicesSelecting } from './selectors.js';

/** What the injected agent containers get; the manager's flags or `detour inject`'s fill it in. */
export interface InjectOptions {
  /** The detour image (its entrypoint is the `detour` binary). */
  agentImage: string;
  /** The manager's URL as seen from the pod, e.g. `http://detour-manager.detour.svc:8080`. */
  managerUrl: string;
  /** The Secret holding the manager's token; it must exist in the pod's namespace. */
  tokenSecret: { name: string; key: string };
  /** For an `https://` manager with a private CA: the Secret (in the pod's namespace) holding it; agents get `--manager-ca`. */
  managerCaSecret?: { name: string; key: string };
  /** Agents get `--insecure`: the token crosses the cluster network to an `http://` manager in cleartext (they warn at start). */
  insecure?: boolean;
  /** Written into {@link INJECTED_ANNOTATION}. */
  version: string;
  resources?: Record<string, unknown>;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /** The agent's user and group id: runAsNonRoot needs a numeric user to verify. */
  agentUid?: number;
  /** Where agent ports start; each agent takes the next number no container of the pod uses. */
  firstAgentPort?: number;
  /** The address agents bind: all interfaces, since the Service's traffic arrives on the pod IP. */
  listenHost?: string;
}

export const INJECT_DEFAULTS = {
  firstAgentPort: 15_000,
  // The image's own user (Dockerfile `USER 10001`), so the agent runs as the manager does.
  agentUid: 10_001,
  listenHost: '0.0.0.0',
  resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
} as const;

/** A Service whose numeric targetPort(s) now have an agent port named for them; the Service needs {@link patchServiceForAgent}. */
export interface NumericTarget {
  service: string;
  targetPort: number;
  agentPortName: string;
}

export type InjectResult =
  | {
      injected: true;
      template: PodTemplate;
      /** One line per change, for `detour inject` and the manager's log; empty when it was injected already. */
      changes: string[];
      /** Services that reach the agent only once their targetPort is patched. */
      numericTargets: NumericTarget[];
    }
  | { injected: false; reason: string };

interface NamedSwap {
  kind: 'named';
  container: number;
  port: number;
  name: string;
  containerPort: number;
  service: string;
  servicePort: ServicePort;
}

interface NumericSwap {
  kind: 'numeric';
  containerPort: number;
  service: string;
  servicePort: ServicePort;
}

type Swap = NamedSwap | NumericSwap;

const skip = (reason: string): InjectResult => ({ injected: false, reason });

/**
 * Turns a pod (or a workload's pod template) into the injected one, without NET_ADMIN:
 * for each container port a selecting Service targets by name, the app's port is
 * renamed and an agent container takes the original name on a new port, so the
 * Service reaches the agent with no Service change and no iptables (Telepresence
 * needs an init container with NET_ADMIN for the numeric case, which PodSecurity
 * forbids: its #3730, #3769). A port targeted by number keeps its name; the agent
 * gets a named port and the Service is patched to it ({@link NumericTarget}).
 *
 * `services` are the Services of the pod's namespace (the caller knows it: a Pod in
 * an AdmissionReview may not carry it); those whose selector matches the template's
 * labels count. Plain data in, plain data out: `template` is not modified, and a pod
 * that cannot be injected gives a reason, never a throw.
 */
export function injectPodTemplate(template: PodTemplate, services: readonly Service[], options: InjectOptions): InjectResult {
  const spec: unknown = template.spec;
  if (!isRecord(spec) || !Array.isArray(spec.containers)) return skip('the pod has no spec.containers');
  const annotations = template.metadata?.annotations ?? {};
  if (annotations[INJECTED_ANNOTATION] !== undefined) return { injected: true, template, changes: [], numericTargets: [] };
  if (template.spec.hostNetwork === true) {
    return skip("it uses hostNetwork: the agent's port would be opened on the node, and the app's port names are the node's");
  }

  const selecting = servicesSelecting(services, template.metadata?.labels ?? {});
  if (selecting.length === 0) return skip('no Service selects its labels');

  const planned = planSwaps(template.spec, selecting);
  if (planned.swaps.length === 0) {
    return skip(`no container port is targeted by ${selecting.map((s) => `Service ${s.metadata.name ?? '?'}`).join(', ')}`);
  }
  const { swaps, notes } = planned;

  const taken = namesInUse(template.spec);
  const usedNumbers = portNumbersInUse(template.spec);
  const first = options.firstAgentPort ?? INJECT_DEFAULTS.firstAgentPort;
  let nextPort = first;
  const allocate = (): number | undefined => {
    while (nextPort <= 65_535 && usedNumbers.has(nextPort)) nextPort += 1;
    if (nextPort > 65_535) return undefined;
    usedNumbers.add(nextPort);
    return nextPort;
  };

  const out: PodTemplate = structuredClone(template);
  const changes: string[] = [];
  const numericTargets: NumericTarget[] = [];
  const agents: Container[] = [];

  for (const swap of swaps) {
    const agentPort = allocate();
    if (agentPort === undefined) return skip(`no free port from ${first} up for the agent`);
    let agentName: string;
    if (swap.kind === 'named') {
      const renamed = appPortName(swap.name);
      if (!isValidPortName(renamed)) return skip(`port ${swap.name} cannot be renamed: ${JSON.stringify(renamed)} is not a valid port name; name the port 11 characters or fewer`);
      if (taken.has(renamed)) return skip(`port name ${renamed} (for the app's port ${swap.name}) is already taken by another port`);
      taken.add(renamed);
      const container = out.spec.containers[swap.container] as Container;
      (container.ports as ContainerPort[])[swap.port] = { ...(container.ports as ContainerPort[])[swap.port], name: renamed } as ContainerPort;
      changes.push(`container ${container.name}: port ${swap.name} (${swap.containerPort}) renamed ${renamed}`);
      for (const change of rewritePortReferences(container, swap.name, renamed)) changes.push(`container ${container.name}: ${change} ${swap.name} → ${renamed}`);
      agentName = swap.name;
    } else {
      agentName = agentPortNameForNumber(swap.containerPort);
      if (taken.has(agentName)) return skip(`port name ${agentName} (for the agent in front of port ${swap.containerPort}) is already taken`);
      taken.add(agentName);
      numericTargets.push({ service: swap.service, targetPort: swap.containerPort, agentPortName: agentName });
    }
    const containerName = `${AGENT_CONTAINER_PREFIX}${swap.kind === 'named' ? swap.name : String(swap.containerPort)}`;
    if (taken.has(`container:${containerName}`)) return skip(`a container is already named ${containerName}`);
    taken.add(`container:${containerName}`);
    const protocol = protocolFor(swap.servicePort, swap.kind === 'named' ? swap.name : undefined);
    agents.push(agentContainer({ containerName, portName: agentName, agentPort, appPort: swap.containerPort, service: swap.service, protocol }, options));
    changes.push(
      `container ${containerName} added: agent for Service ${swap.service} on port ${agentName} (${agentPort}), app at 127.0.0.1:${swap.containerPort}, protocol ${protocol}`,
    );
  }

  if ((template.spec.volumes ?? []).some((v) => v.name === TOKEN_VOLUME)) return skip(`a volume is already named ${TOKEN_VOLUME}`);
  const ca = options.managerCaSecret;
  if (ca !== undefined && (template.spec.volumes ?? []).some((v) => v.name === MANAGER_CA_VOLUME)) return skip(`a volume is already named ${MANAGER_CA_VOLUME}`);
  out.spec.containers.push(...agents);
  out.spec.volumes = [
    ...(out.spec.volumes ?? []),
    // 0444: the files belong to root and the agent runs as a non-root user without an fsGroup;
    // only the agent containers mount the volume.
    { name: TOKEN_VOLUME, secret: { secretName: options.tokenSecret.name, items: [{ key: options.tokenSecret.key, path: 'token' }], defaultMode: 0o444 } },
    ...(ca === undefined ? [] : [{ name: MANAGER_CA_VOLUME, secret: { secretName: ca.name, items: [{ key: ca.key, path: 'ca.crt' }], defaultMode: 0o444 } }]),
  ];
  changes.push(`volume ${TOKEN_VOLUME} added: Secret ${options.tokenSecret.name} key ${options.tokenSecret.key}`);
  if (ca !== undefined) changes.push(`volume ${MANAGER_CA_VOLUME} added: Secret ${ca.name} key ${ca.key}`);
  out.metadata = { ...(out.metadata ?? {}), annotations: { ...annotations, [INJECTED_ANNOTATION]: options.version } };
  changes.push(...notes);
  return { injected: true, template: out, changes, numericTargets };
}

/**
 * Which container ports get an agent, in a stable order: Services by name, their
 * ports in order. Named targets first, so a port also targeted by number is known to
 * be fronted already.
 */
function planSwaps(spec: PodSpec, selecting: readonly Service[]): { swaps: Swap[]; notes: string[] } {
  const swaps: Swap[] = [];
  const notes: string[] = [];
  const ordered = [...selecting].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const tcpPorts = (service: Service) => (service.spec?.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
  const named = new Map<string, NamedSwap>();
  for (const service of ordered) {
    const serviceName = service.metadata.name ?? '';
    for (const servicePort of tcpPorts(service)) {
      if (typeof servicePort.targetPort !== 'string') continue;
      const name = servicePort.targetPort;
      const earlier = named.get(name);
      if (earlier !== undefined) {
        if (earlier.service !== serviceName) notes.push(`Service ${serviceName} also targets port ${name}: its traffic goes through the agent of Service ${earlier.service}`);
        continue;
      }
      const found = findNamedPort(spec, name);
      if (found === undefined) continue;
      const swap: NamedSwap = { kind: 'named', ...found, name, service: serviceName, servicePort };
      named.set(name, swap);
      swaps.push(swap);
    }
  }
  const numeric = new Set<number>();
  for (const service of ordered) {
    const serviceName = service.metadata.name ?? '';
    for (const servicePort of tcpPorts(service)) {
      if (typeof servicePort.targetPort === 'string' && named.has(servicePort.targetPort)) continue;
      // An absent targetPort means the Service's own port number (Kubernetes' default);
      // `detour-<n>` is a number the manager already pointed at the agents.
      const target = typeof servicePort.targetPort === 'string' ? numberOfAgentPortName(servicePort.targetPort) : (servicePort.targetPort ?? servicePort.port);
      if (target === undefined || numeric.has(target)) continue;
      const fronted = [...named.values()].find((s) => s.containerPort === target);
      if (fronted !== undefined) {
        notes.push(`Service ${serviceName} targets ${target} by number and reaches the app directly: set its targetPort to ${fronted.name} to route it through the agent`);
        continue;
      }
      numeric.add(target);
      swaps.push({ kind: 'numeric', containerPort: target, service: serviceName, servicePort });
    }
  }
  return { swaps, notes };
}

/** A Service's named targetPort resolves against the pod's app containers (init containers do not serve). */
function findNamedPort(spec: PodSpec, name: string): { container: number; port: number; containerPort: number } | undefined {
  for (const [ci, container] of spec.containers.entries()) {
    for (const [pi, port] of (container.ports ?? []).entries()) {
      if (port.name === name && (port.protocol ?? 'TCP') === 'TCP') return { container: ci, port: pi, containerPort: port.containerPort };
    }
  }
  return undefined;
}

/** Port names and container names in use anywhere in the pod (container names are prefixed `container:`). */
function namesInUse(spec: PodSpec): Set<string> {
  const names = new Set<string>();
  for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) {
    names.add(`container:${container.name}`);
    for (const port of container.ports ?? []) if (port.name !== undefined) names.add(port.name);
  }
  return names;
}

function portNumbersInUse(spec: PodSpec): Set<number> {
  const numbers = new Set<number>();
  for (const container of [...spec.containers, ...(spec.initContainers ?? [])]) {
    for (const port of container.ports ?? []) {
      numbers.add(port.containerPort);
      if (port.hostPort !== undefined) numbers.add(port.hostPort);
    }
  }
  return numbers;
}

/**
 * Probes and lifecycle hooks resolve a named port within their own container, so a
 * probe that named the renamed port must name the new one, or the kubelet finds no
 * such port and the probe fails. A probe by number needs nothing: the app keeps its
 * number (the agent listens on a new one). exec probes name no port.
 */
function rewritePortReferences(container: Container, from: string, to: string): string[] {
  const rewritten: string[] = [];
  const handler = (where: string, h: Probe | LifecycleHandler | undefined) => {
    if (h === undefined) return;
    if (h.httpGet?.port === from) {
      h.httpGet.port = to;
      rewritten.push(`${where} httpGet port`);
    }
    if (h.tcpSocket?.port === from) {
      h.tcpSocket.port = to;
      rewritten.push(`${where} tcpSocket port`);
    }
  };
  handler('readinessProbe', container.readinessProbe);
  handler('livenessProbe', container.livenessProbe);
  handler('startupProbe', container.startupProbe);
  handler('postStart', container.lifecycle?.postStart);
  handler('preStop', container.lifecycle?.preStop);
  return rewritten;
}

/**
 * The agent's `--protocol`: the Service port's appProtocol, else the port's name
 * (Istio's `<protocol>[-suffix]` convention). A TLS port becomes `tcp`: the agent has
 * no certificate of the app's to terminate it with, so it passes the bytes through.
 */
export function protocolFor(servicePort: ServicePort, containerPortName?: string): AgentProtocol {
  const candidates = [servicePort.appProtocol, servicePort.name, containerPortName].filter((v): v is string => v !== undefined && v !== '');
  for (const candidate of candidates) {
    const value = candidate.toLowerCase().replace(/^kubernetes\.io\//, '');
    const protocol = PROTOCOL_BY_NAME[value] ?? PROTOCOL_BY_NAME[value.split('-')[0] ?? ''];
    // gRPC-Web rides on HTTP/1.1 or HTTP/2 alike.
    if (value.startsWith('grpc-web')) return 'auto';
    if (protocol !== undefined) return protocol;
  }
  return 'auto';
}

const PROTOCOL_BY_NAME: Record<string, AgentProtocol> = {
  grpc: 'h2c',
  http2: 'h2c',
  h2c: 'h2c',
  http: 'http1',
  tcp: 'tcp',
  https: 'tcp',
  tls: 'tcp',
  wss: 'tcp',
};

interface AgentPlan {
  containerName: string;
  portName: string;
  agentPort: number;
  appPort: number;
  service: string;
  protocol: AgentProtocol;
}

function agentContainer(plan: AgentPlan, options: InjectOptions): Container {
  const uid = options.agentUid ?? INJECT_DEFAULTS.agentUid;
  return {
    name: plan.containerName,
    image: options.agentImage,
    ...(options.imagePullPolicy === undefined ? {} : { imagePullPolicy: options.imagePullPolicy }),
    args: [
      'agent',
      '--service', plan.service,
      '--listen', String(plan.agentPort),
      '--host', options.listenHost ?? INJECT_DEFAULTS.listenHost,
      '--app', `http://127.0.0.1:${plan.appPort}`,
      '--protocol', plan.protocol,
      '--manager', options.managerUrl,
      '--token-file', TOKEN_FILE,
      ...(options.managerCaSecret === undefined ? [] : ['--manager-ca', MANAGER_CA_FILE]),
      ...(options.insecure === true ? ['--insecure'] : []),
    ],
    ports: [{ name: plan.portName, containerPort: plan.agentPort, protocol: 'TCP' }],
    // The agent listens before it reaches the manager, so a down manager does not make the pod unready.
    readinessProbe: { tcpSocket: { port: plan.portName }, periodSeconds: 5 },
    resources: structuredClone(options.resources ?? INJECT_DEFAULTS.resources),
    // PodSecurity "restricted": non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: uid,
      runAsGroup: uid,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_MOUNT_PATH, readOnly: true },
      ...(options.managerCaSecret === undefined ? [] : [{ name: MANAGER_CA_VOLUME, mountPath: MANAGER_CA_MOUNT_PATH, readOnly: true }]),
    ],
  };
}
