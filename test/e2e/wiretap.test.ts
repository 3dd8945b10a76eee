import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Environment } from './support/environment.js';
import type { Developer } from './support/environment.js';
import { EchoClient, metadataOf, startGrpcApp } from './support/grpc-client.js';
import { eventually, REPO_ROOT, stopProcess } from './support/processes.js';

// Issue #16, `--mode wiretap`: the app keeps answering, laptops get copies.
// Real manager, agent, daemons and apps; nothing is faked.

const DIGEST_APP = `${REPO_ROOT}test/e2e/support/digest-app.mjs`;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A caller's view of one answer, without `date` and `keep-alive` (which change by the second). */
async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  // Far below a copy's 5 s timeout: a caller that waited for a copy would fail here.
  const r = await request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, body: init.body ?? null, headersTimeout: 2_500, bodyTimeout: 2_500 });
  const headers = Object.fromEntries(Object.entries(r.headers).filter(([name]) => name !== 'date' && name !== 'keep-alive').map(([n, v]) => [n, String(v)]));
  return { status: r.statusCode, headers, body: await r.body.text() };
}

type Captured = { path: string; method: string; state: string; status?: number; wiretap?: { appStatus: number }; requestBody: { bytes: number } };

async function dashboardOf(dev: Developer): Promise<() => Promise<Captured[]>> {
  const started = await dev.cli(['dashboard', '--no-open', '--output', 'json']);
  assert.equal(started.code, 0, started.stderr);
  const { url } = JSON.parse(started.stdout) as { url: string };
  const signIn = await request(url);
  await signIn.body.dump();
  const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
  return async () => {
    const r = await request(new URL('/api/exchanges', url), { headers: { cookie } });
    return ((await r.body.json()) as { exchanges: Captured[] }).exchanges;
  };
}

test('--mode wiretap: two developers get copies, callers get the app answers byte for byte', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const cluster = await env.app('cluster', [DIGEST_APP, '--name', 'cluster']);
  const agent = await env.agent('api', cluster.url);
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((name) => env.developer(name, [DIGEST_APP, '--name', `${name}-laptop`])));
  const traffic = async () => ({
    unmatched: await call(`${agent.url}/health`),
    get: await call(`${agent.url}/orders/1`),
    post: await call(`${agent.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'book', qty: 2 }) }),
  });
  const before = await traffic();
  assert.equal(JSON.parse(before.get.body).app, 'cluster');

  const [aliceSeen, bobSeen] = await Promise.all([dashboardOf(alice), dashboardOf(bob)]);
  // The same matchers twice, and a normal intercept of carol's beside them: none conflicts.
  for (const dev of [alice, bob]) await dev.intercept('api', ['--mode', 'wiretap', '--http-path-prefix', '/orders', '--name', 'tap']);
  const [carolHeader, carolValue] = await carol.interceptHeader('api');

  await t.test('list shows both wiretaps beside the intercept', async () => {
    const list = await carol.cli(['list']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout.split('\n').filter((line) => line.includes('path^=/orders (wiretap)')).length, 2, list.stdout);
  });

  await t.test("callers' answers are identical to the app's with the wiretaps on", async () => {
    assert.deepEqual(await traffic(), before);
  });

  await t.test('each wiretapping developer got a copy of each matched request, with the status the caller got', async () => {
    for (const seen of [aliceSeen, bobSeen]) {
      const copies = await eventually('both copies captured', async () => {
        const all = (await seen()).filter((e) => e.state === 'complete');
        return all.length >= 2 ? all : undefined;
      });
      assert.deepEqual(copies.map((e) => `${e.method} ${e.path} app:${e.wiretap?.appStatus} laptop:${e.status}`).sort(), ['GET /orders/1 app:200 laptop:200', 'POST /orders app:200 laptop:200']);
      assert.equal(copies.find((e) => e.method === 'POST')!.requestBody.bytes, JSON.stringify({ item: 'book', qty: 2 }).length);
      // Unmatched traffic is not copied.
      assert.ok(!(await seen()).some((e) => e.path === '/health'));
    }
  });

  await t.test("a normal intercept still takes its requests; the wiretaps get a copy of carol's answer", async () => {
    const answer = await call(`${agent.url}/orders/2`, { headers: { [carolHeader]: carolValue } });
    assert.equal(JSON.parse(answer.body).app, 'carol-laptop');
    await eventually('the copy of carol’s request', async () => ((await aliceSeen()).some((e) => e.path === '/orders/2' && e.wiretap?.appStatus === 200) ? true : undefined));
  });

  await t.test('a frozen laptop does not delay callers', async () => {
    const pid = await bob.daemonPid();
    process.kill(pid, 'SIGSTOP');
    try {
      for (let i = 0; i < 20; i++) {
        const answer = await call(`${agent.url}/orders/${i}`);
        assert.equal(answer.status, 200);
        assert.equal(JSON.parse(answer.body).app, 'cluster');
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  await t.test('wiretap with --global or --on-disconnect fail: one line, exit 2', async () => {
    const global = await alice.cli(['intercept', 'api', '--port', String(alice.localPort), '--name', 'g', '--mode', 'wiretap', '--global']);
    assert.equal(global.code, 2);
    assert.equal(global.stderr, 'detour: --mode wiretap copies matched requests and never takes a service, so it cannot be --global; use --http-header or a path flag\n');
    const fail = await alice.cli(['intercept', 'api', '--port', String(alice.localPort), '--name', 'f', '--mode', 'wiretap', '--on-disconnect', 'fail']);
    assert.equal(fail.code, 2);
    assert.equal(fail.stderr, 'detour: --mode wiretap never changes what callers get, so --on-disconnect fail cannot apply; drop --on-disconnect\n');
  });
});

test('--mode wiretap over gRPC: the app answers the call, the laptop gets a copy of the stream', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const apps = await Promise.all([startGrpcApp('cluster'), startGrpcApp('alice-laptop')]);
  t.after(() => Promise.all(apps.map((app) => stopProcess(app.child))));
  const [cluster, laptop] = apps;
  const [agent, alice] = await Promise.all([env.agent('greeter', cluster.value), env.developer('alice')]);
  const seen = await dashboardOf(alice);
  const result = await alice.cli(['intercept', 'greeter', '--port', new URL(laptop.value).port, '--mode', 'wiretap', '--http-header', 'x-team=blue']);
  assert.equal(result.code, 0, result.stderr);
  const client = new EchoClient(new URL(agent.url).host);
  t.after(() => client.close());

  const tapped = await client.unary('hello', metadataOf('x-team=blue'));
  assert.equal(tapped.reply?.servedBy, 'cluster');
  assert.equal(tapped.reply?.text, 'hello');
  const plain = await client.unary('plain');
  assert.equal(plain.reply?.servedBy, 'cluster');
  const copies = await eventually('the copy of the tapped call', async () => {
    const all = (await seen()).filter((e) => e.state === 'complete');
    return all.length >= 1 ? all : undefined;
  });
  assert.deepEqual(
    copies.map((e) => `${e.method} ${e.path} app:${e.wiretap?.appStatus}`),
    ['POST /detour.test.Echo/Unary app:200'],
  );
});
