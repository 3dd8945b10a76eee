import { test } from 'node:test';
import assert from 'node:assert/strict';
import { injectPodTemplate, uninjectPodTemplate } from '../src/index.js';
import type { PodTemplate } from '../src/index.js';
import { OPTIONS, assertValidPod, legacyPod, legacyService, service, webPod, webServices } from './fixtures.js';

function injected(template: PodTemplate, services: Parameters<typeof injectPodTemplate>[1]): PodTemplate {
  const result = injectPodTemplate(template, services, OPTIONS);
  assert.ok(result.injected, 'injected');
  return result.template;
}

test('uninject undoes injection exactly: containers, port names, probes, hooks, volumes, annotation', () => {
  const original = webPod();
  const after = uninjectPodTemplate(injected(original, webServices()));
  assert.deepEqual(after.template, original);
  assert.ok(after.changes.some((c) => c === 'container app: port detour-app-http (8080) renamed http'), after.changes.join('\n'));
  assertValidPod(after.template);
});

test('uninject of a numeric-target pod, and of a pod with no volumes or annotations before injection, gives the original back', () => {
  const original = legacyPod();
  assert.deepEqual(uninjectPodTemplate(injected(original, [legacyService()])).template, original);
  const bare: PodTemplate = { metadata: { labels: { app: 'bare' } }, spec: { containers: [{ name: 'app', image: 'bare:1', ports: [{ name: 'web', containerPort: 80 }] }] } };
  assert.deepEqual(uninjectPodTemplate(injected(bare, [service('bare', { app: 'bare' }, [{ port: 80, targetPort: 'web' }])])).template, bare);
});

test('uninject of a long port name that injection cut restores the full name from the agent', () => {
  const original: PodTemplate = { metadata: { labels: { app: 'l' } }, spec: { containers: [{ name: 'app', ports: [{ name: 'grpc-internal', containerPort: 7000 }] }] } };
  const once = injected(original, [service('l', { app: 'l' }, [{ port: 7000, targetPort: 'grpc-internal' }])]);
  assert.equal(once.spec.containers[0]?.ports?.[0]?.name, 'da-grpc-interna');
  assert.deepEqual(uninjectPodTemplate(once).template, original);
});

test('uninject of a template never injected changes nothing', () => {
  const original = webPod();
  const after = uninjectPodTemplate(original);
  assert.deepEqual(after.template, original);
  assert.deepEqual(after.changes, []);
});
