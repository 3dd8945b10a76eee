import type { Container, PodTemplate } from './objects.js';
import { AGENT_CONTAINER_PREFIX } from './names.js';

/** A ConfigMap or Secret as the API serves it; only `data` is read (a Secret's values are base64, RFC 4648 §4). */
export interface KeyValueSource {
  metadata?: { name?: string };
  data?: Record<string, string>;
}

/** A Pod as read from the API: its spec, and the status fields the downward API can expose. */
export interface RunningPod extends PodTemplate {
  status?: { podIP?: string; podIPs?: Array<{ ip: string }>; hostIP?: string; hostIPs?: Array<{ ip: string }>; phase?: string };
}

/** The objects a container's environment refers to, by name (absent: not found, or not readable). */
export interface EnvSources {
  configMaps: ReadonlyMap<string, KeyValueSource>;
  secrets: ReadonlyMap<string, KeyValueSource>;
}

export interface ContainerEnvironment {
  container: string;
  /** In the container's order: envFrom sources first, then `env`, a later name replacing an earlier one in place. */
  variables: Array<{ name: string; value: string }>;
  /** What could not be resolved from the laptop, one line each (a resource field, a missing ConfigMap key). */
  unresolved: string[];
}

/** Names a `.env` file and a shell take as they are; Kubernetes allows more (any printable but `=`). */
const PORTABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The container whose environment a developer's local copy needs: the one that is not detour's agent. */
export function appContainer(pod: PodTemplate, name?: string): Container | undefined {
  const containers = pod.spec.containers;
  if (name !== undefined) return containers.find((c) => c.name === name);
  const apps = containers.filter((c) => !c.name.startsWith(AGENT_CONTAINER_PREFIX));
  return apps.length === 1 ? apps[0] : undefined;
}

/** Names of the ConfigMaps and Secrets a container's environment refers to, to read them before resolving. */
export function referencedSources(container: Container): { configMaps: string[]; secrets: string[] } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const from of envFromOf(container)) {
    if (from.configMapRef?.name !== undefined) configMaps.add(from.configMapRef.name);
    if (from.secretRef?.name !== undefined) secrets.add(from.secretRef.name);
  }
  for (const entry of envOf(container)) {
    if (entry.valueFrom?.configMapKeyRef?.name !== undefined) configMaps.add(entry.valueFrom.configMapKeyRef.name);
    if (entry.valueFrom?.secretKeyRef?.name !== undefined) secrets.add(entry.valueFrom.secretKeyRef.name);
  }
  return { configMaps: [...configMaps], secrets: [...secrets] };
}

interface KeyRef {
  name?: string;
  key: string;
  optional?: boolean;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef; fieldRef?: { fieldPath: string }; resourceFieldRef?: { resource: string } };
}
interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name?: string; optional?: boolean };
  secretRef?: { name?: string; optional?: boolean };
}

function envOf(container: Container): EnvVar[] {
  return Array.isArray(container['env']) ? (container['env'] as EnvVar[]) : [];
}

function envFromOf(container: Container): EnvFromSource[] {
  return Array.isArray(container['envFrom']) ? (container['envFrom'] as EnvFromSource[]) : [];
}

function decodeSecret(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8');
}

/**
 * `$(NAME)` in a `value` is replaced by an earlier variable's value, `$$` is a
 * literal `$`, and a reference to an unknown name stays as written: the kubelet's
 * expansion (k8s.io/kubernetes third_party/forked/golang/expansion).
 */
export function expandReferences(value: string, known: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== '$' || i + 1 >= value.length) {
      out += c;
      continue;
    }
    const next = value[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = value.indexOf(')', i + 2);
      if (end === -1) {
        out += value.slice(i);
        break;
      }
      const name = value.slice(i + 2, end);
      out += known.get(name) ?? `$(${name})`;
      i = end;
    } else {
      out += c;
    }
  }
  return out;
}

/** A downward-API `fieldRef` the laptop can answer from the pod object, or undefined. */
function fieldValue(pod: RunningPod, path: string): string | undefined {
  const meta = pod.metadata ?? {};
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (keyed !== null) return (keyed[1] === 'labels' ? meta.labels : meta.annotations)?.[keyed[2]!];
  switch (path) {
    case 'metadata.name':
    case 'metadata.namespace':
    case 'metadata.uid':
      return typeof meta[path.slice('metadata.'.length)] === 'string' ? (meta[path.slice('metadata.'.length)] as string) : undefined;
    case 'spec.nodeName':
    case 'spec.serviceAccountName':
      return typeof pod.spec[path.slice('spec.'.length)] === 'string' ? (pod.spec[path.slice('spec.'.length)] as string) : undefined;
    case 'status.podIP':
      return pod.status?.podIP;
    case 'status.hostIP':
      return pod.status?.hostIP;
    case 'status.podIPs':
      return pod.status?.podIPs?.map((p) => p.ip).join(',');
    case 'status.hostIPs':
      return pod.status?.hostIPs?.map((p) => p.ip).join(',');
    default:
      return undefined;
  }
}

/**
 * The environment the kubelet gives `container` of `pod` (its `envFrom`, then its
 * `env`), resolved from the objects read with the developer's credentials.
 * Values that point at the pod's own `localhost` ports are kept as they are.
 */
export function containerEnvironment(pod: RunningPod, container: Container, sources: EnvSources): ContainerEnvironment {
  const values = new Map<string, string>();
  const unresolved: string[] = [];
  const set = (name: string, value: string) => {
    if (!PORTABLE_NAME.test(name)) {
      unresolved.push(`${name}: not a portable variable name; left out`);
      return;
    }
    values.set(name, value);
  };
  const keyOf = (kind: 'ConfigMap' | 'Secret', ref: KeyRef, variable: string): string | undefined => {
    const source = (kind === 'ConfigMap' ? sources.configMaps : sources.secrets).get(ref.name ?? '');
    const raw = source?.data?.[ref.key];
    if (raw === undefined) {
      if (ref.optional !== true) unresolved.push(`${variable}: ${kind} ${ref.name ?? '(unnamed)'} ${source === undefined ? 'was not readable' : `has no key ${ref.key}`}`);
      return undefined;
    }
    return kind === 'Secret' ? decodeSecret(raw) : raw;
  };

  for (const from of envFromOf(container)) {
    const prefix = from.prefix ?? '';
    const [kind, ref] = from.configMapRef !== undefined ? (['ConfigMap', from.configMapRef] as const) : (['Secret', from.secretRef] as const);
    if (ref === undefined) continue;
    const source = (kind === 'ConfigMap' ? sources.configMaps : sources.secrets).get(ref.name ?? '');
    if (source === undefined) {
      if (ref.optional !== true) unresolved.push(`envFrom: ${kind} ${ref.name ?? '(unnamed)'} was not readable`);
      continue;
    }
    for (const [key, raw] of Object.entries(source.data ?? {})) set(`${prefix}${key}`, kind === 'Secret' ? decodeSecret(raw) : raw);
  }

  for (const entry of envOf(container)) {
    const from = entry.valueFrom;
    if (from === undefined) {
      set(entry.name, expandReferences(entry.value ?? '', values));
      continue;
    }
    let value: string | undefined;
    if (from.configMapKeyRef !== undefined) value = keyOf('ConfigMap', from.configMapKeyRef, entry.name);
    else if (from.secretKeyRef !== undefined) value = keyOf('Secret', from.secretKeyRef, entry.name);
    else if (from.fieldRef !== undefined) {
      value = fieldValue(pod, from.fieldRef.fieldPath);
      if (value === undefined) unresolved.push(`${entry.name}: the field ${from.fieldRef.fieldPath} is not known from the pod object`);
    } else if (from.resourceFieldRef !== undefined) {
      unresolved.push(`${entry.name}: resource field ${from.resourceFieldRef.resource} is the node's to compute; left out`);
    }
    if (value !== undefined) set(entry.name, value);
  }
  return { container: container.name, variables: [...values].map(([name, value]) => ({ name, value })), unresolved };
}
