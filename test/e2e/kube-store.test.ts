import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Environment, answeredBy } from './support/environment.js';
import type { Developer } from './support/environment.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { eventually } from './support/processes.js';

const NAMESPACE = 'dev';
const COLLECTION = `/apis/detour.dev/v1alpha1/namespaces/${NAMESPACE}/intercepts`;

async function routesTo(what: string, url: string, header: [string, string], app: string, timeoutMs = 15_000): Promise<void> {
  await eventually(what, async () => ((await answeredBy(url, { [header[0]]: header[1] })) === app ? true : undefined), timeoutMs, 50);
}

/** Freezes a developer's daemon (SIGSTOP) until the returned function is called; the test's end thaws it in any case. */
async function freeze(t: { after(fn: () => void): void }, developer: Developer): Promise<() => void> {
  const pid = await developer.daemonPid();
  process.kill(pid, 'SIGSTOP');
  let thawed = false;
  const thaw = () => {
    if (!thawed) process.kill(pid, 'SIGCONT');
    thawed = true;
  };
  t.after(thaw);
  return thaw;
}

// Issue 10: on Kubernetes the manager keeps its intercepts as intercepts.detour.dev
// objects. Real manager, agent and daemon processes; the API server is the fake
// (test/e2e/support/fake-kube-api.ts), reached by @kubernetes/client-node over HTTPS.
test('--state kubernetes: intercepts are objects with a status, survive a restart, follow kubectl delete, re-list after 410 Gone, retry 409 Conflict', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-kube-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const kube = await FakeKubeApi.start(dir, { namespace: NAMESPACE });
  t.after(() => kube.close());
  const env = await Environment.create({ managerArgs: ['--state', 'kubernetes', '--namespace', NAMESPACE, '--kubeconfig', kube.kubeconfig] });
  t.after(() => env.close());
  const api = await env.service('api');
  const agentUrl = api.agentUrls[0]!;
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  const aliceHeader = await alice.interceptHeader('api');
  const aliceId = (await env.intercepts('api'))[0]!.id;
  const alicePath = `${COLLECTION}/${aliceId}`;

  await t.test('an intercept is an object with its status, written before `detour intercept` returns', async () => {
    const object = kube.get(alicePath) as { spec: Record<string, unknown> & { owner: Record<string, unknown> }; status?: Record<string, unknown> } | undefined;
    assert.ok(object !== undefined, `an object at ${alicePath}`);
    assert.equal(object.spec['service'], 'api');
    assert.equal(object.spec.owner['name'], 'alice');
    assert.equal(object.spec['mechanism'], 'http');
    assert.equal(object.status?.['online'], true);
    assert.equal(object.status?.['owner'], 'alice');
    assert.match(String(object.status?.['acceptedAt']), /^\d{4}-\d\d-\d\dT/);
    const clientId = (await readFile(join(alice.home, 'client-id'), 'utf8')).trim();
    assert.ok(!JSON.stringify(object).includes(clientId), 'the object does not hold the daemon client id');
    const writes = kube.requests.filter((r) => r.path.startsWith(alicePath) && r.method !== 'GET').map((r) => `${r.method} ${r.path.slice(alicePath.length) || '/'} ${r.contentType}`);
    assert.deepEqual(writes.slice(0, 1), ['PATCH /status application/merge-patch+json'], 'status through the status subresource, as a merge patch');
    assert.ok(kube.requests.some((r) => r.method === 'POST' && r.path === COLLECTION && r.status === 201), 'created by POST');
    await routesTo('alice gets her traffic', agentUrl, aliceHeader, 'alice-laptop');
  });

  await t.test('an update meeting 409 Conflict (the object changed meanwhile) is re-read and retried', async () => {
    // Someone labels the object: its resourceVersion moves on, the manager's copy is stale.
    kube.touch(alicePath, { metadata: { labels: { team: 'payments' } } });
    const conflictsBefore = kube.conflictsServed();
    // Her tunnel goes down (frozen daemon, missed pings): the manager writes online: false.
    const thaw = await freeze(t, alice);
    await eventually('the status says offline', async () => ((kube.get(alicePath)?.['status'] as { online?: boolean } | undefined)?.online === false ? true : undefined), 15_000);
    assert.ok(kube.conflictsServed() > conflictsBefore, 'the first write met a 409 Conflict');
    assert.equal((kube.get(alicePath)?.metadata?.['labels'] as Record<string, string> | undefined)?.['team'], 'payments', "the other writer's change is kept");
    thaw();
    await eventually('the status says online again', async () => ((kube.get(alicePath)?.['status'] as { online?: boolean } | undefined)?.online === true ? true : undefined), 20_000);
    await routesTo('alice gets her traffic again', agentUrl, aliceHeader, 'alice-laptop', 20_000);
  });

  const bobHeader = await bob.interceptHeader('api');
  const bobId = (await env.intercepts('api')).find((i) => i.owner.name === 'bob')!.id;
  const bobPath = `${COLLECTION}/${bobId}`;

  await t.test('a restarted manager picks up every intercept from the cluster', async () => {
    await env.stopManager('SIGKILL');
    const thawAlice = await freeze(t, alice);
    const thawBob = await freeze(t, bob);
    await env.startManager();
    const restored = await env.intercepts('api');
    assert.deepEqual(restored.map((i) => [i.id, i.owner.name, i.online]).sort(), [[aliceId, 'alice', false], [bobId, 'bob', false]].sort(), 'both, offline until their daemons are back');
    thawAlice();
    thawBob();
    await routesTo('alice gets her traffic after the restart', agentUrl, aliceHeader, 'alice-laptop', 30_000);
    await routesTo('bob gets his traffic after the restart', agentUrl, bobHeader, 'bob-laptop', 30_000);
    assert.equal(kube.list(COLLECTION).length, 2, 'no duplicate objects');
    assert.equal((await env.intercepts('api')).length, 2, 'no duplicate intercepts');
    await eventually('the statuses say online', async () => (kube.list(COLLECTION).every((o) => (o['status'] as { online?: boolean }).online === true) ? true : undefined), 15_000);
  });

  await t.test('a watch expired with 410 Gone is replaced by a re-list, which catches a deletion the watch missed', async () => {
    await eventually('the manager watches', async () => (kube.openWatches() > 0 ? true : undefined));
    const listsBefore = kube.requests.filter((r) => r.method === 'GET' && r.path === COLLECTION).length;
    kube.pauseWatches();
    assert.ok(kube.delete(bobPath) !== undefined);
    kube.expireWatches();
    await routesTo("bob's deleted intercept no longer routes", agentUrl, bobHeader, 'api');
    assert.ok(kube.requests.filter((r) => r.method === 'GET' && r.path === COLLECTION).length > listsBefore, 'the manager listed again');
    assert.deepEqual((await env.intercepts('api')).map((i) => i.id), [aliceId]);
    await routesTo('alice is not affected', agentUrl, aliceHeader, 'alice-laptop');
  });

  await t.test('kubectl delete intercept: gone from the agents, through the resumed watch', async () => {
    await eventually('the manager watches again', async () => (kube.openWatches() > 0 ? true : undefined));
    assert.ok(kube.delete(alicePath) !== undefined);
    await routesTo("alice's deleted intercept no longer routes", agentUrl, aliceHeader, 'api');
    assert.deepEqual(await env.intercepts('api'), []);
    assert.deepEqual(kube.list(COLLECTION), [], 'not written back');
  });
});
