import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fastJsonPatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { createLogger } from '@detour/core';
import type { Logger } from '@detour/core';
import { injectPodTemplate, reviewAdmission } from '../src/index.js';
import type { AdmissionContext, PodRef, PodTemplate, Service } from '../src/index.js';
import { OPTIONS, assertValidPod, legacyPod, legacyService, webPod, webServices } from './fixtures.js';

/** An AdmissionReview as the API server sends it for `kubectl apply` of a Deployment's pod (recorded shape). */
export function review(object: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
      ...overrides,
    },
  };
}

interface Log {
  logger: Logger;
  lines: Array<{ level: number; msg: string; reason?: string }>;
}

function captureLog(): Log {
  const lines: Log['lines'] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Log['lines'][number]);
      callback();
    },
  });
  return { logger: createLogger('manager', { level: 'debug', destination }), lines };
}

function context(services: Service[], log: Log, extra: Partial<AdmissionContext> = {}): AdmissionContext {
  return { services: { servicesIn: (namespace) => Promise.resolve(services.filter((s) => s.metadata.namespace === namespace)) }, options: OPTIONS, logger: log.logger, ...extra };
}

interface Response {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  warnings?: string[];
}

function response(body: unknown): Response {
  const envelope = body as { apiVersion: string; kind: string; response: Response };
  assert.equal(envelope.apiVersion, 'admission.k8s.io/v1');
  assert.equal(envelope.kind, 'AdmissionReview');
  assert.equal(envelope.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
  assert.equal(envelope.response.allowed, true, 'never allowed: false');
  return envelope.response;
}

/** Applies the answer's patch with an independent RFC 6902 implementation. */
function applyPatch(pod: unknown, answer: Response): unknown {
  assert.equal(answer.patchType, 'JSONPatch');
  const operations = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString('utf8')) as Operation[];
  return fastJsonPatch.applyPatch(structuredClone(pod), operations, true, false).newDocument;
}

test('an opted-in pod gets a JSONPatch that turns it into exactly the injected pod', async () => {
  const log = captureLog();
  const pod = webPod();
  const injectedSeen: Array<[PodRef, unknown]> = [];
  const answer = await reviewAdmission(review(pod), context(webServices(), log, { hooks: { injected: (ref, targets) => injectedSeen.push([ref, targets]) } }));
  assert.equal(answer.status, 200);
  const patched = applyPatch(pod, response(answer.body)) as PodTemplate & { kind: string };
  const expected = injectPodTemplate(pod, webServices(), OPTIONS);
  assert.ok(expected.injected);
  assert.deepEqual(patched, { ...pod, metadata: expected.template.metadata, spec: expected.template.spec });
  assertValidPod(patched);
  assert.deepEqual(injectedSeen, [[{ namespace: 'shop', name: 'web-5d8f9c7b6-*', owner: { kind: 'ReplicaSet', name: 'web-5d8f9c7b6' } }, []]]);
  assert.ok(log.lines.some((l) => l.msg === 'agent injected'));
});

test('the patch touches only what injection changes', async () => {
  const answer = await reviewAdmission(review(webPod()), context(webServices(), captureLog()));
  const operations = JSON.parse(Buffer.from(response(answer.body).patch ?? '', 'base64').toString('utf8')) as Operation[];
  assert.deepEqual(operations.map((o) => `${o.op} ${o.path}`), ['replace /metadata/annotations', 'replace /spec/containers', 'replace /spec/volumes']);
  // A pod without annotations or volumes: they are added.
  const bare = legacyPod();
  const numeric = await reviewAdmission(review(bare), context([legacyService()], captureLog()));
  const added = JSON.parse(Buffer.from(response(numeric.body).patch ?? '', 'base64').toString('utf8')) as Operation[];
  assert.deepEqual(added.map((o) => `${o.op} ${o.path}`), ['add /metadata/annotations', 'replace /spec/containers', 'add /spec/volumes']);
  assertValidPod(applyPatch(bare, response(numeric.body)) as PodTemplate);
});

test('a numeric targetPort: the injected hook names the Service the manager must patch', async () => {
  const pod = { ...legacyPod(), metadata: { name: 'legacy-0', namespace: 'shop', labels: { app: 'legacy' } } };
  const seen: unknown[] = [];
  const answer = await reviewAdmission(review(pod), context([legacyService()], captureLog(), { hooks: { injected: (_ref, targets) => seen.push(targets) } }));
  assertValidPod(applyPatch(pod, response(answer.body)) as PodTemplate);
  assert.deepEqual(seen, [
    [
      { service: 'legacy', targetPort: 8080, agentPortName: 'detour-8080' },
      { service: 'legacy', targetPort: 9000, agentPortName: 'detour-9000' },
    ],
  ]);
});

test('an already-injected pod (webhook reinvoked, or a template `detour inject` wrote) is admitted with no patch', async () => {
  const once = injectPodTemplate(webPod(), webServices(), OPTIONS);
  assert.ok(once.injected);
  const answer = response((await reviewAdmission(review({ ...webPod(), ...once.template }), context(webServices(), captureLog()))).body);
  assert.equal(answer.patch, undefined);
  assert.equal(answer.warnings, undefined);
});

test('a pod that cannot be injected is admitted unchanged, with a warning, a log line and the Event hook', async () => {
  const log = captureLog();
  const pod = webPod();
  pod.spec.hostNetwork = true;
  const skipped: Array<[PodRef, string]> = [];
  const answer = response((await reviewAdmission(review(pod), context(webServices(), log, { hooks: { skipped: (ref, reason) => skipped.push([ref, reason]) } }))).body);
  assert.equal(answer.patch, undefined);
  assert.equal(answer.warnings?.length, 1);
  assert.match(answer.warnings?.[0] ?? '', /^detour: pod shop\/web-5d8f9c7b6-\* of ReplicaSet web-5d8f9c7b6 not injected: it uses hostNetwork/);
  assert.equal(skipped.length, 1);
  assert.match(skipped[0]?.[1] ?? '', /hostNetwork/);
  assert.ok(log.lines.some((l) => l.msg === 'pod not injected' && /hostNetwork/.test(l.reason ?? '')));
});

test('a bug or an error inside the mutation fails open: allowed, no patch, a warning and an error log', async () => {
  const log = captureLog();
  const failing = context([], log, { services: { servicesIn: () => Promise.reject(new Error('connection refused by the API server')) } });
  const answer = await reviewAdmission(review(webPod()), failing);
  assert.equal(answer.status, 200);
  const body = response(answer.body);
  assert.equal(body.patch, undefined);
  assert.match(body.warnings?.[0] ?? '', /injection failed inside the webhook/);
  assert.ok(log.lines.some((l) => l.level === 50 && l.msg.includes('admitted unchanged')));
  // A hook that throws is a bug too.
  const throwing = context(webServices(), captureLog(), { hooks: { injected: () => { throw new TypeError('boom'); } } });
  assert.equal(response((await reviewAdmission(review(webPod()), throwing)).body).patch, undefined);
  // So is a pod whose spec is not what the API server sends.
  const odd = response((await reviewAdmission(review({ metadata: { labels: { app: 'web' } }, spec: { containers: [null] } }), context(webServices(), captureLog()))).body);
  assert.equal(odd.allowed, true);
});

test('opt-out and opt-in: the pod says disabled, or its namespace does not opt in', async () => {
  const disabled = webPod();
  disabled.metadata = { ...disabled.metadata, labels: { ...disabled.metadata?.labels, 'detour.dev/inject': 'disabled' } };
  const answer = response((await reviewAdmission(review(disabled), context(webServices(), captureLog()))).body);
  assert.equal(answer.patch, undefined);
  assert.equal(answer.warnings, undefined);

  const asked: string[] = [];
  const namespaces = { optedIn: (ns: string) => (asked.push(ns), Promise.resolve(false)) };
  const notOptedIn = response((await reviewAdmission(review(webPod()), context(webServices(), captureLog(), { namespaces }))).body);
  assert.equal(notOptedIn.patch, undefined);
  assert.deepEqual(asked, ['shop']);

  const optedIn = webPod();
  optedIn.metadata = { ...optedIn.metadata, annotations: { 'detour.dev/inject': 'enabled' } };
  const own = response((await reviewAdmission(review(optedIn), context(webServices(), captureLog(), { namespaces }))).body);
  assert.equal(own.patchType, 'JSONPatch', 'the pod opted in itself: the namespace is not asked');
  assert.deepEqual(asked, ['shop']);
});

test('other objects and operations are admitted untouched', async () => {
  const ctx = context(webServices(), captureLog());
  for (const overrides of [{ operation: 'UPDATE' }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, { subResource: 'ephemeralcontainers' }]) {
    const answer = response((await reviewAdmission(review(webPod(), overrides), ctx)).body);
    assert.equal(answer.patch, undefined, JSON.stringify(overrides));
  }
});

test('a malformed AdmissionReview gets a 400 with a JSON error body', async () => {
  const ctx = context(webServices(), captureLog());
  const bodies: unknown[] = [
    null,
    'AdmissionReview',
    [],
    { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: { uid: 'u' } },
    { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' },
    { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: '' } },
    { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 7 } },
  ];
  for (const body of bodies) {
    const answer = await reviewAdmission(body, ctx);
    assert.equal(answer.status, 400, JSON.stringify(body));
    const error = (answer.body as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'DETOUR_ERR_WEBHOOK_BAD_REVIEW');
    assert.match(error.message, /^not an AdmissionReview admission\.k8s\.io\/v1: /);
  }
});
