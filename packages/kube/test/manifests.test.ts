import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DaemonSet, Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
import { Service as ServiceModel } from 'kubernetes-models/v1';
import { INJECTED_ANNOTATION, injectManifests } from '../src/index.js';
import type { PodTemplate, Service } from '../src/index.js';
import { OPTIONS, assertValidPod, legacyPod, legacyService, service, webPod, webServices } from './fixtures.js';

function workload(kind: string, apiVersion: string, name: string, template: PodTemplate, extra: Record<string, unknown> = {}) {
  return {
    apiVersion,
    kind,
    metadata: { name, namespace: 'shop' },
    spec: { selector: { matchLabels: template.metadata?.labels }, template: { metadata: template.metadata, spec: template.spec }, ...extra },
  };
}

function templateOf(object: unknown): PodTemplate {
  return (object as { spec: { template: PodTemplate } }).spec.template;
}

test('a StatefulSet and a DaemonSet are injected through their template, and stay valid', () => {
  const web = webPod();
  const template = { metadata: { labels: web.metadata?.labels ?? {} }, spec: web.spec };
  const sts = workload('StatefulSet', 'apps/v1', 'web-db', template, { serviceName: 'web' });
  const ds = workload('DaemonSet', 'apps/v1', 'web-node', template);
  const { objects, failures, changes } = injectManifests([sts, ds, ...webServices()], [], OPTIONS);
  assert.deepEqual(failures, []);
  const [outSts, outDs] = objects;
  new StatefulSet(outSts as ConstructorParameters<typeof StatefulSet>[0]).validate();
  new DaemonSet(outDs as ConstructorParameters<typeof DaemonSet>[0]).validate();
  for (const out of [outSts, outDs]) {
    const t = templateOf(out);
    assertValidPod(t);
    assert.equal(t.metadata?.annotations?.[INJECTED_ANNOTATION], '0.1.0');
    assert.deepEqual(t.spec.containers.map((c) => c.name), ['app', 'logs', 'detour-agent-http', 'detour-agent-grpc']);
  }
  assert.ok(changes.some((c) => c.startsWith('StatefulSet shop/web-db: container detour-agent-http added')), changes.join('\n'));
  assert.deepEqual(objects.slice(2), webServices(), 'named targetPorts: the Services stay as they are');
});

test('a Deployment whose Service targets a number: the Service in the same input is patched', () => {
  const deploy = workload('Deployment', 'apps/v1', 'legacy', legacyPod());
  const { objects, failures } = injectManifests([legacyService(), deploy], [], OPTIONS);
  assert.deepEqual(failures, []);
  const svc = objects[0] as Service;
  new ServiceModel(svc as ConstructorParameters<typeof ServiceModel>[0]).validate();
  assert.deepEqual(svc.spec?.ports?.map((p) => p.targetPort), ['detour-8080', 'detour-9000']);
  new Deployment(objects[1] as ConstructorParameters<typeof Deployment>[0]).validate();
  assertValidPod(templateOf(objects[1]));
});

test('a Service known only from --service-file is used to inject, not printed, and a numeric one is named in the changes', () => {
  const deploy = workload('Deployment', 'apps/v1', 'legacy', legacyPod());
  const { objects, failures, changes } = injectManifests([deploy], [legacyService()], OPTIONS);
  assert.deepEqual(failures, []);
  assert.equal(objects.length, 1);
  assert.ok(changes.some((c) => c.includes('Service legacy targets 8080 by number: run detour inject on its manifest too')), changes.join('\n'));
});

test('Lists keep their shape, unknown kinds pass through, a bare Pod and a CronJob are injected', () => {
  const pod = { ...webPod(), metadata: { name: 'web-debug', namespace: 'shop', labels: { app: 'web' } } };
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', namespace: 'shop' }, data: { a: 'b' } };
  const cron = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'report', namespace: 'shop' },
    spec: { schedule: '0 * * * *', jobTemplate: { spec: { template: { metadata: { labels: { app: 'legacy' } }, spec: { ...legacyPod().spec, restartPolicy: 'OnFailure' } } } } },
  };
  const list = { apiVersion: 'v1', kind: 'List', items: [configMap, pod, ...webServices()] };
  const { objects, failures } = injectManifests([list, cron, legacyService()], [], OPTIONS);
  assert.deepEqual(failures, []);
  const outList = objects[0] as { kind: string; items: unknown[] };
  assert.equal(outList.kind, 'List');
  assert.deepEqual(outList.items[0], configMap);
  assertValidPod(outList.items[1] as PodTemplate);
  const cronOut = objects[1] as { spec: { jobTemplate: { spec: { template: PodTemplate } } } };
  new CronJob(cronOut as unknown as ConstructorParameters<typeof CronJob>[0]).validate();
  assertValidPod(cronOut.spec.jobTemplate.spec.template);
  assert.equal(cronOut.spec.jobTemplate.spec.template.spec.containers.length, 3);
});

test('a workload that cannot be injected is passed through unchanged and named; disabled ones and other namespaces are left alone', () => {
  const worker = workload('Deployment', 'apps/v1', 'worker', { metadata: { labels: { app: 'worker' } }, spec: { containers: [{ name: 'w', image: 'w' }] } });
  const off = workload('Deployment', 'apps/v1', 'web-off', webPod());
  off.metadata = { ...off.metadata, annotations: { 'detour.dev/inject': 'disabled' } } as typeof off.metadata;
  const elsewhere = { ...workload('Deployment', 'apps/v1', 'web', webPod()), metadata: { name: 'web', namespace: 'other' } };
  const { objects, failures } = injectManifests([worker, off, elsewhere, ...webServices(), service('x', { app: 'x' }, [])], [], OPTIONS);
  assert.deepEqual(objects.slice(0, 3), [worker, off, elsewhere]);
  assert.deepEqual(failures, [
    { object: 'Deployment shop/worker', reason: 'no Service selects its labels' },
    { object: 'Deployment other/web', reason: 'no Service selects its labels' },
  ]);
});

test('detour inject on its own output changes nothing', () => {
  const input = [workload('Deployment', 'apps/v1', 'web', webPod()), workload('Deployment', 'apps/v1', 'legacy', legacyPod()), ...webServices(), legacyService()];
  const once = injectManifests(input, [], OPTIONS);
  const twice = injectManifests(once.objects, [], OPTIONS);
  assert.deepEqual(twice.objects, once.objects);
  assert.deepEqual(twice.failures, []);
});
