// Issue 10, in the cluster: the injector, the Service patcher, Events, every replica
// intercepted, a manager restart with --state kubernetes, and `detour uninstall`
// putting every object back field by field. Real manager, agent, daemon and CLI
// processes; the Kubernetes API server is THE ONE MOCK (test/e2e/support/fake-kube-api.ts),
// reached by @kubernetes/client-node over HTTPS through a real kubeconfig. There are no
// kubelets here: a pod "exists" when the test creates it in the fake API with the spec the
// webhook answered, as the API server would after admission, and the agents of its
// replicas are real processes started with the arguments injection wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Event, Pod } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { makeCertificates } from './support/certificates.js';
import { Environment, answeredBy } from './support/environment.js';
import { FakeKubeApi, jsonPatch } from './support/fake-kube-api.js';
import { eventually, runCli } from './support/processes.js';

const SHOP = 'shop';
const DETOUR_NS = 'detour';
const CORE = `/api/v1/namespaces/${SHOP}`;
const APPS = `/apis/apps/v1/namespaces/${SHOP}`;
const INJECT_LABEL = 'detour.dev/inject';
const ORIGINAL_ANNOTATION = 'detour.dev/original-target-ports';
const AGENT_RESOURCES = { requests: { cpu: '20m', memory: '40Mi' }, limits: { memory: '100Mi' } };

type Json = Record<string, unknown>;
interface Obj {
  metadata: { name?: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string>; [k: string]: unknown };
  spec?: Json & { template?: { metadata?: { labels?: Record<string, string> } }; ports?: Array<{ targetPort?: unknown }> };
  [k: string]: unknown;
}

function podTemplate(app: string, ports: Json[]): Json {
  return {
    metadata: { labels: { app } },
    spec: {
      containers: [{ name: 'app', image: `shop/${app}:1`, ports, readinessProbe: { httpGet: { path: '/ready', port: (ports[0] as { name?: string; containerPort: number }).name ?? (ports[0] as { containerPort: number }).containerPort } } }],
    },
  };
}

function deployment(name: string, replicas: number, ports: Json[]): Json {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: SHOP, labels: { app: name } }, spec: { replicas, selector: { matchLabels: { app: name } }, template: podTemplate(name, ports) } };
}

function service(name: string, ports: Json[]): Json {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: SHOP }, spec: { selector: { app: name }, ports, type: 'ClusterIP' } };
}

/** What a real API server owns and changes by itself: the only fields the comparison ignores. */
function withoutServerFields(object: Obj | undefined): Obj | undefined {
  if (object === undefined) return undefined;
  const copy = structuredClone(object);
  delete copy.metadata.resourceVersion;
  return copy;
}

/** POSTs an AdmissionReview to the manager's webhook (the API server's side of the call). */
async function admit(url: string, ca: Buffer, pod: Json, uid: string, namespace = SHOP): Promise<{ allowed: boolean; patch?: unknown[]; warnings?: string[] }> {
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace, operation: 'CREATE', object: pod, dryRun: false },
  };
  const body = JSON.stringify(review);
  const answer = await new Promise<string>((resolve, reject) => {
    const req = https.request(`${url}?timeout=5s`, { method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
  const response = (JSON.parse(answer) as { response: { uid: string; allowed: boolean; patch?: string; warnings?: string[] } }).response;
  assert.equal(response.uid, uid);
  return { allowed: response.allowed, ...(response.patch === undefined ? {} : { patch: JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown[] }), ...(response.warnings === undefined ? {} : { warnings: response.warnings }) };
}

/** A replica's pod as its ReplicaSet's controller sends it to admission. */
function replicaPod(deploymentName: string, template: Json): Json {
  const t = structuredClone(template) as { metadata: Json; spec: Json };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...t.metadata, generateName: `${deploymentName}-7c9d-`, namespace: SHOP, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${deploymentName}-7c9d`, uid: `uid-${deploymentName}`, controller: true }] },
    spec: t.spec,
  };
}

test('in the cluster: injection per replica, numeric Services patched and restored, Events, a restart, and uninstall restores every field', { timeout: 240_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-kube-inject-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kube = await FakeKubeApi.start(join(dir), { namespace: DETOUR_NS });
  t.after(() => kube.close());
  const webhookCerts = await makeCertificates(await mkdtemp(join(dir, 'webhook-')));

  // The cluster before detour: a namespace, two Deployments, their Services.
  kube.seed('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SHOP } });
  kube.seed(`${APPS}/deployments`, deployment('web', 1, [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]) as never);
  kube.seed(`${APPS}/deployments`, deployment('legacy', 3, [{ containerPort: 8080, protocol: 'TCP' }]) as never);
  kube.seed(`${CORE}/services`, service('web', [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]) as never);
  kube.seed(`${CORE}/services`, service('legacy', [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }, { name: 'udp', port: 5353, targetPort: 5353, protocol: 'UDP' }]) as never);
  const paths = [`${APPS}/deployments/web`, `${APPS}/deployments/legacy`, `${CORE}/services/web`, `${CORE}/services/legacy`, '/api/v1/namespaces/shop'];
  const originals = new Map(paths.map((p) => [p, kube.get(p) as Obj]));
  for (const [path, object] of originals) {
    if (path.includes('/deployments/')) new Deployment(object as never).validate();
    if (path.includes('/services/')) new Service(object as never).validate();
  }

  // The workloads opt in (kubectl label on the pod template).
  for (const name of ['web', 'legacy']) kube.touch(`${APPS}/deployments/${name}`, { spec: { template: { metadata: { labels: { [INJECT_LABEL]: 'enabled' } } } } });

  const env = await Environment.create({
    managerArgs: [
      '--state', 'kubernetes', '--namespace', DETOUR_NS, '--kubeconfig', kube.kubeconfig,
      '--webhook-port', '0', '--webhook-cert', webhookCerts.certFile, '--webhook-key', webhookCerts.keyFile,
      '--agent-image', 'registry.example/detour:test', '--agent-manager-url', 'http://detour.detour.svc:8700', '--agent-insecure', '--inject-namespace', SHOP,
      '--agent-resources', JSON.stringify(AGENT_RESOURCES),
    ],
  });
  t.after(() => env.close());
  const webhookUrl = async () =>
    eventually('the injector listens', async () => env.managerStdout().map((l) => /agent injector listening on (\S+)/.exec(l)?.[1]).find((u) => u !== undefined), 15_000);
  let url = await webhookUrl();
  const events = () => kube.list(`${CORE}/events`) as Array<Obj & { reason: string; type: string; message: string; involvedObject: { kind: string; name: string } }>;
  const legacyPath = `${CORE}/services/legacy`;
  const servicePatches = () => kube.requests.filter((r) => r.method === 'PATCH' && r.path === legacyPath).length;
  const legacyTemplate = () => (kube.get(`${APPS}/deployments/legacy`) as { spec: { template: Json } }).spec.template;
  let uid = 0;
  /** Admits one replica of `legacy` and creates it as the API server would: with the webhook's patch applied. */
  const createLegacyReplica = async (name: string): Promise<{ spec: { containers: Array<{ name: string; args: string[]; resources?: unknown }> } }> => {
    const pod = replicaPod('legacy', legacyTemplate());
    const answer = await admit(url, webhookCerts.ca, pod, `uid-${(uid += 1)}`);
    assert.equal(answer.allowed, true);
    assert.ok(answer.patch !== undefined, `replica ${name} gets a patch: ${JSON.stringify(answer)}`);
    const injected = jsonPatch(pod as never, answer.patch as never) as Json & { metadata: Json; spec: { containers: Array<{ name: string; args: string[] }> } };
    injected.metadata = { ...injected.metadata, name };
    delete injected.metadata['generateName'];
    new Pod(injected as never).validate();
    kube.seed(`${CORE}/pods`, { ...injected, status: { phase: 'Running' } } as never);
    return injected;
  };

  let agentArgs: string[] = [];
  await t.test('every replica is injected; the numeric Service is patched only when every live pod it selects has an agent', async () => {
    // An old pod of the Deployment, from before it opted in: still selected, no agent.
    kube.seed(`${CORE}/pods`, { ...replicaPod('legacy', (originals.get(`${APPS}/deployments/legacy`) as unknown as { spec: { template: Json } }).spec.template), metadata: { name: 'legacy-old', namespace: SHOP, labels: { app: 'legacy' } }, status: { phase: 'Running' } } as never);
    const first = await createLegacyReplica('legacy-a');
    const agent = first.spec.containers.find((c) => c.name.startsWith('detour-agent-'))!;
    agentArgs = agent.args;
    assert.deepEqual(agent.resources, AGENT_RESOURCES, '--agent-resources reaches the container');
    assert.deepEqual(agentArgs.slice(0, 3), ['agent', '--service', 'legacy']);
    await createLegacyReplica('legacy-b');
    await eventually('the DetourInjected Events', async () => (events().filter((e) => e.reason === 'DetourInjected').length === 2 ? true : undefined), 10_000);
    assert.equal(servicePatches(), 0, 'not patched while legacy-old (no agent) is selected: it would lose its traffic');
    // The rollout ends: the old pod goes, the third replica comes.
    kube.delete(`${CORE}/pods/legacy-old`);
    await createLegacyReplica('legacy-c');
    const patched = await eventually('the Service is patched', async () => {
      const s = kube.get(legacyPath) as Obj;
      return s.spec?.ports?.[0]?.targetPort === 'detour-8080' ? s : undefined;
    }, 15_000);
    new Service(patched as never).validate();
    assert.equal(patched.spec?.ports?.[1]?.targetPort, 5353, 'the UDP port is left alone');
    assert.deepEqual(JSON.parse(patched.metadata.annotations?.[ORIGINAL_ANNOTATION] ?? '{}'), { '80/TCP': 8080 });
    assert.ok(kube.requests.some((r) => r.method === 'PATCH' && r.path === legacyPath && r.contentType === 'application/merge-patch+json'), 'a JSON merge patch');
    const event = await eventually('the DetourServicePatched Event', async () => events().find((e) => e.reason === 'DetourServicePatched'), 10_000);
    assert.equal(event.involvedObject.kind, 'Service');
    assert.match(event.message, /all 3 selected pods have a detour agent/);
  });

  await t.test('a named targetPort needs no Service change; a pod that cannot be injected is admitted unchanged with a Warning Event', async () => {
    const webTemplate = (kube.get(`${APPS}/deployments/web`) as { spec: { template: Json } }).spec.template;
    const answer = await admit(url, webhookCerts.ca, replicaPod('web', webTemplate), 'uid-web');
    assert.ok(answer.patch !== undefined);
    const hostNetwork = replicaPod('web', webTemplate) as { spec: Json };
    hostNetwork.spec['hostNetwork'] = true;
    const refused = await admit(url, webhookCerts.ca, hostNetwork, 'uid-host');
    assert.equal(refused.allowed, true);
    assert.equal(refused.patch, undefined);
    const warning = await eventually('the DetourNotInjected Event', async () => events().find((e) => e.reason === 'DetourNotInjected'), 10_000);
    assert.equal(warning.type, 'Warning');
    assert.deepEqual([warning.involvedObject.kind, warning.involvedObject.name], ['ReplicaSet', 'web-7c9d']);
    assert.match(warning.message, /hostNetwork/);
    assert.deepEqual(withoutServerFields(kube.get(`${CORE}/services/web`) as Obj), withoutServerFields(originals.get(`${CORE}/services/web`)));
    // A namespace the manager does not manage (a webhook selector wider than --inject-namespace): admitted unchanged, saying why.
    const elsewhere = await admit(url, webhookCerts.ca, replicaPod('web', webTemplate), 'uid-elsewhere', 'billing');
    assert.equal(elsewhere.allowed, true);
    assert.equal(elsewhere.patch, undefined);
    assert.match(elsewhere.warnings?.join(' ') ?? '', /admitted without an agent/);
  });

  // Three replicas' agents, started with the arguments injection wrote (listen, app and manager local).
  const app = await env.app('legacy');
  const protocol = agentArgs[agentArgs.indexOf('--protocol') + 1]!;
  const agents = await Promise.all([0, 1, 2].map(() => env.agent('legacy', app.url, ['--protocol', protocol])));
  const alice = await env.developer('alice');
  const [header, value] = await alice.interceptHeader('legacy');
  const everyReplicaRoutes = async (what: string) => {
    for (const agent of agents) {
      await eventually(`${what}: ${agent.url}`, async () => ((await answeredBy(agent.url, { [header]: value })) === 'alice-laptop' ? true : undefined), 20_000, 50);
      assert.equal(await answeredBy(agent.url), 'legacy', 'everyone else still reaches the app');
    }
  };

  await t.test('an intercept reaches every replica, and says so in an Event on the Service', async () => {
    await everyReplicaRoutes('every replica routes alice');
    const started = await eventually('the DetourInterceptStarted Event', async () => events().find((e) => e.reason === 'DetourInterceptStarted'), 10_000);
    assert.deepEqual([started.involvedObject.kind, started.involvedObject.name], ['Service', 'legacy']);
    assert.match(started.message, /^alice intercepts Service legacy/);
  });

  await t.test('after 410 Gone the caches re-list; a pod without an agent gets the Service restored at once, a new injection patches it again', async () => {
    kube.expireWatches();
    await eventually('the watches are back', async () => (kube.openWatches() >= 2 ? true : undefined), 15_000);
    // A pod created while the manager was down (the webhook failed open): no agent.
    kube.seed(`${CORE}/pods`, { ...replicaPod('legacy', originals.get(`${APPS}/deployments/legacy`)!.spec!.template as Json), metadata: { name: 'legacy-unserved', namespace: SHOP, labels: { app: 'legacy' } }, status: { phase: 'Running' } } as never);
    await eventually('the Service is restored', async () => ((kube.get(legacyPath) as Obj).spec?.ports?.[0]?.targetPort === 8080 ? true : undefined), 15_000);
    const restored = await eventually('the DetourServiceRestored Event', async () => events().find((e) => e.reason === 'DetourServiceRestored'), 10_000);
    assert.equal(restored.type, 'Warning');
    assert.match(restored.message, /legacy-unserved has no port detour-8080/);
    kube.delete(`${CORE}/pods/legacy-unserved`);
    await createLegacyReplica('legacy-d');
    await eventually('patched again', async () => ((kube.get(legacyPath) as Obj).spec?.ports?.[0]?.targetPort === 'detour-8080' ? true : undefined), 15_000);
  });

  await t.test('a killed and restarted manager has the intercept back on every replica (--state kubernetes), with no new Event for it', async () => {
    await env.stopManager('SIGKILL');
    await env.startManager();
    url = await webhookUrl();
    await everyReplicaRoutes('every replica routes alice after the restart');
    assert.equal(events().filter((e) => e.reason === 'DetourInterceptStarted').length, 1, 'a restored intercept did not start again');
  });

  await t.test('every Event written is a valid core/v1 Event from detour-manager', () => {
    assert.ok(events().length >= 6);
    for (const event of events()) {
      new Event(event as never).validate();
      assert.equal((event['source'] as { component: string }).component, 'detour-manager');
    }
  });

  await t.test('detour uninstall --all puts every workload and Service back field by field, and the manager leaves them so', async () => {
    const patchesBefore = servicePatches();
    const result = await runCli(['uninstall', '--all', '--namespace', SHOP, '--kubeconfig', kube.kubeconfig], {});
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.ok(lines.includes(`Deployment ${SHOP}/legacy: label ${INJECT_LABEL} removed`), result.stdout);
    assert.ok(lines.includes(`Deployment ${SHOP}/web: label ${INJECT_LABEL} removed`), result.stdout);
    assert.ok(lines.some((l) => l.startsWith(`Service ${SHOP}/legacy: targetPort restored (80/TCP → 8080, 5353/UDP → 5353)`)), result.stdout);
    assert.equal(servicePatches(), patchesBefore + 1, 'one write to the Service: its restore');
    // The rollout replaces the injected pods with plain ones; the manager must not patch again.
    for (const name of ['legacy-a', 'legacy-b', 'legacy-c', 'legacy-d']) kube.delete(`${CORE}/pods/${name}`);
    kube.seed(`${CORE}/pods`, { ...replicaPod('legacy', legacyTemplate()), metadata: { name: 'legacy-plain', namespace: SHOP, labels: { app: 'legacy' } }, status: { phase: 'Running' } } as never);
    // A second uninstall finds nothing left to do: that is the idempotence a user relies on.
    const again = await runCli(['uninstall', '--all', '--namespace', SHOP, '--kubeconfig', kube.kubeconfig], {});
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), `nothing of detour's to undo in namespace ${SHOP}`);
    for (const path of paths) assert.deepEqual(withoutServerFields(kube.get(path) as Obj), withoutServerFields(originals.get(path)), `${path} is as it was before detour`);
    assert.equal(servicePatches(), patchesBefore + 1, 'the manager did not patch the restored Service again');
  });

  await t.test('uninstall: a Service that does not exist, or neither --service nor --all, is one line and exit 2', async () => {
    const missing = await runCli(['uninstall', '--service', 'nope', '--namespace', SHOP, '--kubeconfig', kube.kubeconfig], {});
    assert.equal(missing.code, 2);
    assert.match(missing.stderr.trim(), /^detour: .*no Service nope in namespace shop/);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    const neither = await runCli(['uninstall', '--namespace', SHOP, '--kubeconfig', kube.kubeconfig], {});
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /give --service NAME .* or --all/);
  });
});

test("the chart's pre-delete hook command: Services restored and intercepts deleted, the user's workloads left as they are", { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-kube-hook-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kube = await FakeKubeApi.start(dir, { namespace: DETOUR_NS });
  t.after(() => kube.close());
  const original = service('legacy', [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }]);
  kube.seed(`${CORE}/services`, original as never);
  const before = kube.get(`${CORE}/services/legacy`) as Obj;
  // As the manager left it: patched, the original in the annotation.
  kube.touch(`${CORE}/services/legacy`, { metadata: { annotations: { [ORIGINAL_ANNOTATION]: JSON.stringify({ '80/TCP': 8080 }) } }, spec: { ports: [{ name: 'http', port: 80, targetPort: 'detour-8080', protocol: 'TCP' }] } });
  const labelled = deployment('legacy', 2, [{ containerPort: 8080 }]) as { spec: { template: { metadata: { labels: Record<string, string> } } } };
  labelled.spec.template.metadata.labels[INJECT_LABEL] = 'enabled';
  kube.seed(`${APPS}/deployments`, labelled as never);
  const workload = kube.get(`${APPS}/deployments/legacy`);
  const intercepts = `/apis/detour.dev/v1alpha1/namespaces/${DETOUR_NS}/intercepts`;
  for (const name of ['i-1', 'i-2']) kube.seed(intercepts, { apiVersion: 'detour.dev/v1alpha1', kind: 'Intercept', metadata: { name }, spec: { service: 'legacy' } });

  // The Job's arguments (charts/detour/templates/uninstall-hook.yaml), with the fake's kubeconfig for the ServiceAccount's.
  const result = await runCli(['uninstall', '--all', '--services-only', `--namespace=${SHOP}`, `--intercepts-namespace=${DETOUR_NS}`, '--kubeconfig', kube.kubeconfig], {});
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(result.stdout.trim().split('\n'), [
    `Service ${SHOP}/legacy: targetPort restored (80/TCP → 8080)`,
    `Intercept ${DETOUR_NS}/i-1 deleted`,
    `Intercept ${DETOUR_NS}/i-2 deleted`,
  ]);
  assert.deepEqual(withoutServerFields(kube.get(`${CORE}/services/legacy`) as Obj), withoutServerFields(before));
  assert.deepEqual(kube.get(`${APPS}/deployments/legacy`), workload, 'the workload is not touched (the hook may not, and its label is the user’s)');
  assert.deepEqual(kube.list(intercepts), []);
  const touched = kube.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
  assert.ok(!touched.some((w) => w.includes('/deployments') || w.includes('/pods')), `writes: ${touched.join(', ')}`);
});
