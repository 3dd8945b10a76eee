/**
 * The few Kubernetes object shapes injection reads and writes, as plain data.
 * Only the fields detour looks at are typed; every other field is carried through
 * untouched (the index signatures), so a manifest comes out as it went in apart
 * from what injection changes.
 */

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  hostPort?: number;
  protocol?: string;
  [field: string]: unknown;
}

/** httpGet, tcpSocket and grpc name a port; exec does not (and is left alone). */
export interface Probe {
  httpGet?: { port: number | string; [field: string]: unknown };
  tcpSocket?: { port: number | string; [field: string]: unknown };
  grpc?: { port: number; [field: string]: unknown };
  [field: string]: unknown;
}

export interface LifecycleHandler {
  httpGet?: { port: number | string; [field: string]: unknown };
  tcpSocket?: { port: number | string; [field: string]: unknown };
  [field: string]: unknown;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { postStart?: LifecycleHandler; preStop?: LifecycleHandler; [field: string]: unknown };
  [field: string]: unknown;
}

export interface Volume {
  name: string;
  [field: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  hostNetwork?: boolean;
  [field: string]: unknown;
}

/** A Pod, or a workload's `spec.template`: both are metadata plus a PodSpec. */
export interface PodTemplate {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
  appProtocol?: string;
  [field: string]: unknown;
}

export interface Service {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { selector?: Record<string, string>; ports?: ServicePort[]; type?: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** Any object of a manifest: only apiVersion, kind and metadata are known to exist. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
