// A pod, ConfigMap and Secret as `kubectl get -o json` shows them for a Deployment
// `quote` in namespace `shop` after injection (recorded shapes: server-set metadata
// trimmed to what matters), used by the pod-env unit test and the --env-file e2e test.
export const QUOTE_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'quote-7d9f8c6b5-x2x7q',
    namespace: 'shop',
    uid: '9a1f7a9e-5c5b-4f0e-9d0c-3c2f7d1a0b11',
    labels: { app: 'quote', 'pod-template-hash': '7d9f8c6b5' },
    annotations: { 'detour.dev/injected': 'true' },
  },
  spec: {
    nodeName: 'node-a',
    serviceAccountName: 'quote',
    containers: [
      {
        name: 'quote',
        image: 'registry.example/quote:1.4.2',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        envFrom: [{ configMapRef: { name: 'quote-config' } }, { secretRef: { name: 'quote-secrets' }, prefix: 'SECRET_' }, { configMapRef: { name: 'absent-config', optional: true } }],
        env: [
          { name: 'LOG_LEVEL', value: 'debug' },
          { name: 'PRICING_URL', value: 'http://pricing.shop.svc.cluster.local:$(PRICING_PORT)/v2' },
          { name: 'LITERAL', value: 'costs $$(PRICING_PORT) and $(UNKNOWN)' },
          { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'quote-secrets', key: 'db-password' } } },
          { name: 'FEATURE_FLAGS', valueFrom: { configMapKeyRef: { name: 'quote-config', key: 'flags.json' } } },
          { name: 'OPTIONAL_KEY', valueFrom: { configMapKeyRef: { name: 'quote-config', key: 'nope', optional: true } } },
          { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
          { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
          { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
          { name: 'APP_LABEL', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: "metadata.labels['app']" } } },
          { name: 'NODE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
          { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { containerName: 'quote', resource: 'limits.cpu' } } },
          { name: 'CACHE_URL', value: 'redis://localhost:6379' },
        ],
      },
      { name: 'detour-agent-http', image: 'ghcr.io/detour/detour:0.1.0', ports: [{ name: 'detour-http', containerPort: 15080, protocol: 'TCP' }] },
    ],
  },
  status: { phase: 'Running', podIP: '10.244.1.17', podIPs: [{ ip: '10.244.1.17' }], hostIP: '172.18.0.3' },
};

export const QUOTE_CONFIG = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'quote-config', namespace: 'shop' },
  data: { PRICING_PORT: '8081', CURRENCY: 'EUR', 'flags.json': '{"fast": true, "note": "a \\"quoted\\" word"}', 'not-portable.key': 'x' },
};

export const QUOTE_SECRETS = {
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'Opaque',
  metadata: { name: 'quote-secrets', namespace: 'shop' },
  data: { 'db-password': Buffer.from('s3cr3t$ with space').toString('base64'), API_KEY: Buffer.from('k-123').toString('base64') },
};
