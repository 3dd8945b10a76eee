import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigMap, Pod, Secret } from 'kubernetes-models/v1';
import { appContainer, containerEnvironment, expandReferences, referencedSources } from '../src/index.js';
import type { RunningPod } from '../src/index.js';
import { readFileSync } from 'node:fs';

// Recorded objects (see recorded/README.md); the tests run from dist/test.
const recorded = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../test/recorded/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
const QUOTE_POD = recorded('quote-pod');
const QUOTE_CONFIG = recorded('quote-config') as { data: Record<string, string> };
const QUOTE_SECRETS = recorded('quote-secrets') as { data: Record<string, string> };

test('the recorded objects are valid Kubernetes objects', () => {
  new Pod(QUOTE_POD as ConstructorParameters<typeof Pod>[0]).validate();
  new ConfigMap(QUOTE_CONFIG as ConstructorParameters<typeof ConfigMap>[0]).validate();
  new Secret(QUOTE_SECRETS as ConstructorParameters<typeof Secret>[0]).validate();
});

test("the app container's environment: envFrom, then env with $(VAR) expansion, Secret and ConfigMap keys, downward-API fields", () => {
  const pod = QUOTE_POD as unknown as RunningPod;
  const container = appContainer(pod);
  assert.ok(container !== undefined);
  assert.equal(container.name, 'quote', 'the container that is not the agent');
  assert.deepEqual(referencedSources(container), { configMaps: ['quote-config', 'absent-config'], secrets: ['quote-secrets'] });
  const env = containerEnvironment(pod, container, {
    configMaps: new Map([['quote-config', QUOTE_CONFIG]]),
    secrets: new Map([['quote-secrets', QUOTE_SECRETS]]),
  });
  assert.deepEqual(Object.fromEntries(env.variables.map((v) => [v.name, v.value])), {
    PRICING_PORT: '8081',
    CURRENCY: 'EUR',
    SECRET_API_KEY: 'k-123',
    LOG_LEVEL: 'debug',
    PRICING_URL: 'http://pricing.shop.svc.cluster.local:8081/v2',
    LITERAL: 'costs $(PRICING_PORT) and $(UNKNOWN)',
    DB_PASSWORD: 's3cr3t$ with space',
    FEATURE_FLAGS: '{"fast": true, "note": "a \\"quoted\\" word"}',
    POD_NAME: 'quote-7d9f8c6b5-x2x7q',
    POD_NAMESPACE: 'shop',
    POD_IP: '10.244.1.17',
    APP_LABEL: 'quote',
    NODE: 'node-a',
    CACHE_URL: 'redis://localhost:6379',
  });
  assert.deepEqual(env.unresolved, [
    'flags.json: not a portable variable name; left out',
    'not-portable.key: not a portable variable name; left out',
    'SECRET_db-password: not a portable variable name; left out',
    'CPU_LIMIT: resource field limits.cpu is the node\'s to compute; left out',
  ]);
});

test('a Secret the developer may not read is named, not silently empty', () => {
  const pod = QUOTE_POD as unknown as RunningPod;
  const env = containerEnvironment(pod, appContainer(pod)!, { configMaps: new Map([['quote-config', QUOTE_CONFIG]]), secrets: new Map() });
  assert.ok(env.unresolved.includes('envFrom: Secret quote-secrets was not readable'));
  assert.ok(env.unresolved.includes('DB_PASSWORD: Secret quote-secrets was not readable'));
});

test('$(VAR) expansion follows the kubelet: $$ escapes, unknown names stay, an unclosed reference is kept', () => {
  const known = new Map([['A', '1']]);
  assert.equal(expandReferences('x$(A)y', known), 'x1y');
  assert.equal(expandReferences('$$(A) $(B) $(A', known), '$(A) $(B) $(A');
  assert.equal(expandReferences('cost: 5$', known), 'cost: 5$');
});
