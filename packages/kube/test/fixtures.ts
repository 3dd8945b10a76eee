import assert from 'node:assert/strict';
import { Pod } from 'kubernetes-models/v1';
import type { InjectOptions, PodTemplate, Service, ServicePort } from '../src/index.js';
import { isValidPortName } from '../src/names.js';

// Recorded objects, in the shape the API server hands out (`kubectl get -o json`,
// trimmed of status and managedFields). There is no API server here.

export const OPTIONS: InjectOptions = {
  agentImage: 'ghcr.io/example/detour:0.1.0',
  managerUrl: 'http://detour-manager.detour.svc:8080',
  tokenSecret: { name: 'detour-token', key: 'token' },
  version: '0.1.0',
};

export function service(name: string, selector: Record<string, string>, ports: ServicePort[]): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { selector, ports, type: 'ClusterIP' } };
}

/** `web`: HTTP on a named port, gRPC on another; every probe kind; a logging sidecar; an init container. */
export function webPod(): PodTemplate & { apiVersion: string; kind: string } {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'web-5d8f9c7b6-',
      namespace: 'shop',
      labels: { app: 'web', 'pod-template-hash': '5d8f9c7b6' },
      annotations: { 'prometheus.io/scrape': 'true' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8f9c7b6', uid: '0f2b1f5e-8c1e-4b0a-9a57-3a0d1c2b4e6f', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      initContainers: [{ name: 'migrate', image: 'shop/web:1.4.2', command: ['/app/migrate'], ports: [{ name: 'debug', containerPort: 15000 }] }],
      containers: [
        {
          name: 'app',
          image: 'shop/web:1.4.2',
          ports: [
            { name: 'http', containerPort: 8080, protocol: 'TCP' },
            { name: 'grpc', containerPort: 9090, protocol: 'TCP' },
            { name: 'metrics', containerPort: 9100, protocol: 'TCP' },
          ],
          readinessProbe: { httpGet: { path: '/ready', port: 'http', scheme: 'HTTP' }, periodSeconds: 5 },
          livenessProbe: { grpc: { port: 9090 }, periodSeconds: 10 },
          startupProbe: { tcpSocket: { port: 'http' }, failureThreshold: 30 },
          lifecycle: { preStop: { httpGet: { path: '/drain', port: 'http' } } },
          resources: { requests: { cpu: '100m', memory: '128Mi' } },
        },
        {
          name: 'logs',
          image: 'fluent/fluent-bit:3.0',
          livenessProbe: { exec: { command: ['/bin/true'] } },
        },
      ],
      volumes: [{ name: 'config', configMap: { name: 'web-config' } }],
      restartPolicy: 'Always',
      serviceAccountName: 'web',
    },
  };
}

export function webServices(): Service[] {
  return [
    service('web', { app: 'web' }, [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
      { name: 'grpc', port: 9090, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
    ]),
    // Selects other pods: must not count.
    service('cart', { app: 'cart' }, [{ name: 'http', port: 80, targetPort: 'http' }]),
  ];
}

/** `legacy`: its Service targets a number, and one port has no name at all. */
export function legacyPod(): PodTemplate {
  return {
    metadata: { labels: { app: 'legacy' } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'shop/legacy:2',
          ports: [{ containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/health', port: 8080 } },
        },
      ],
    },
  };
}

export function legacyService(): Service {
  return service('legacy', { app: 'legacy' }, [
    { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
    // No targetPort: Kubernetes sends it to the Service's own port number.
    { name: 'admin', port: 9000 },
  ]);
}

/** Schema-valid (kubernetes-models), plus what the schema does not check and the API server would reject. */
export function assertValidPod(pod: PodTemplate): void {
  new Pod({ metadata: { name: 'p', ...pod.metadata }, spec: pod.spec } as ConstructorParameters<typeof Pod>[0]).validate();
  const containers = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  const names = containers.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, `container names are unique: ${names.join(', ')}`);
  const ports = containers.flatMap((c) => c.ports ?? []);
  const portNames = ports.flatMap((p) => (p.name === undefined ? [] : [p.name]));
  assert.equal(new Set(portNames).size, portNames.length, `port names are unique: ${portNames.join(', ')}`);
  for (const name of portNames) assert.ok(isValidPortName(name), `valid port name: ${name}`);
  const numbers = ports.map((p) => p.containerPort);
  assert.equal(new Set(numbers).size, numbers.length, `port numbers are unique: ${numbers.join(', ')}`);
}
