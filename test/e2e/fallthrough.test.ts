import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { Environment } from './support/environment.js';
import { EchoClient, grpc, metadataOf, nextMessage, startGrpcApp } from './support/grpc-client.js';
import { eventually, REPO_ROOT, stopProcess } from './support/processes.js';

// Issue #16, partial local service: `--fallthrough-status` sends a matched request
// the laptop does not implement to the app. Real manager, agents, daemon, apps.

const DIGEST_APP = `${REPO_ROOT}test/e2e/support/digest-app.mjs`;

interface Digest {
  app: string;
  method: string;
  path: string;
  bytes: number;
  sha256: string;
  fallthrough: string | null;
}

async function send(url: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; digest: Digest }> {
  const r = await request(url, { method: body === undefined ? 'GET' : 'POST', headers, ...(body === undefined ? {} : { body }) });
  return { status: r.statusCode, digest: (await r.body.json()) as Digest };
}

test('--fallthrough-status: a partial local service over HTTP/1.1, the rest answered by the app', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const cluster = await env.app('cluster', [DIGEST_APP, '--name', 'cluster']);
  const agent = await env.agent('api', cluster.url);
  const alice = await env.developer('alice', [DIGEST_APP, '--name', 'alice-laptop', '--only', '/v2/']);
  const [name, value] = await alice.interceptHeader('api', ['--fallthrough-status', '404,501', '--fallthrough-body-limit', '64KiB']);
  const asAlice = { [name]: value };
  const dashboard = await alice.cli(['dashboard', '--no-open', '--output', 'json']);
  assert.equal(dashboard.code, 0, dashboard.stderr);
  const { url: dashboardUrl } = JSON.parse(dashboard.stdout) as { url: string };
  const signIn = await request(dashboardUrl);
  await signIn.body.dump();
  const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;

  await t.test('an implemented path is answered locally, any other by the app', async () => {
    assert.deepEqual(await send(`${agent.url}/v2/x`, asAlice).then((r) => [r.status, r.digest.app]), [200, 'alice-laptop']);
    assert.deepEqual(await send(`${agent.url}/v1/x`, asAlice).then((r) => [r.status, r.digest.app]), [200, 'cluster']);
    // Unmatched traffic is untouched.
    assert.deepEqual(await send(`${agent.url}/v1/x`, {}).then((r) => [r.status, r.digest.app]), [200, 'cluster']);
  });

  await t.test('a POST body within the bound is replayed to the app intact', async () => {
    const body = randomBytes(48 * 1024);
    const { status, digest } = await send(`${agent.url}/v1/orders`, asAlice, body);
    assert.equal(status, 200);
    assert.equal(digest.app, 'cluster');
    assert.equal(digest.method, 'POST');
    assert.equal(digest.bytes, body.length);
    assert.equal(digest.sha256, createHash('sha256').update(body).digest('hex'));
  });

  await t.test('a body over the bound is not eligible: the laptop answers, and was told so', async () => {
    const { status, digest } = await send(`${agent.url}/v1/orders`, asAlice, randomBytes(100 * 1024));
    assert.equal(status, 404);
    assert.equal(digest.app, 'alice-laptop');
    assert.equal(digest.fallthrough, 'off; request body over 65536 bytes');
  });

  await t.test('keep-alive: requests after a fall-through on the same connection are routed afresh', async () => {
    for (const [path, app] of [
      ['/v1/a', 'cluster'],
      ['/v2/b', 'alice-laptop'],
      ['/v1/c', 'cluster'],
    ] as const) {
      assert.equal((await send(`${agent.url}${path}`, asAlice)).digest.app, app);
    }
  });

  await t.test('the dashboard shows which requests fell through', async () => {
    type Captured = { path: string; method: string; status?: number; fallthrough?: string };
    const exchanges = await eventually('the over-limit POST captured', async () => {
      const r = await request(new URL('/api/exchanges', dashboardUrl), { headers: { cookie } });
      const { exchanges: all } = (await r.body.json()) as { exchanges: Captured[] };
      return all.filter((e) => e.path === '/v1/orders').length === 2 ? all : undefined;
    });
    const flags = (path: string) => exchanges.filter((e) => e.path === path).map((e) => `${e.method} ${e.status} ${e.fallthrough ?? '-'}`).sort();
    assert.deepEqual(flags('/v2/x'), ['GET 200 -']);
    assert.deepEqual(flags('/v1/x'), ['GET 404 to-app']);
    assert.deepEqual(flags('/v1/orders'), ['POST 404 ineligible', 'POST 404 to-app']);
  });

  await t.test('a status list that is not HTTP statuses: one line, exit 2', async () => {
    const bad = await alice.cli(['intercept', 'api', '--port', String(alice.localPort), '--name', 'bad', '--fallthrough-status', '404,abc']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'detour: bad --fallthrough-status "404,abc": "abc" is not an HTTP status from 200 to 599; use e.g. --fallthrough-status 404,501\n');
    const interim = await alice.cli(['intercept', 'api', '--port', String(alice.localPort), '--name', 'bad', '--fallthrough-status', '100']);
    assert.equal(interim.code, 2);
    assert.match(interim.stderr, /^detour: bad --fallthrough-status "100": "100" is not an HTTP status from 200 to 599; use e\.g\. --fallthrough-status 404,501\n$/);
    const lone = await alice.cli(['intercept', 'api', '--port', String(alice.localPort), '--name', 'bad', '--fallthrough-body-limit', '1MiB']);
    assert.equal(lone.code, 2);
    assert.equal(lone.stderr, 'detour: --fallthrough-body-limit needs --fallthrough-status (e.g. --fallthrough-status 404,501)\n');
  });
});

test('--fallthrough-status over gRPC: a method the laptop does not implement (UNIMPLEMENTED) goes to the app', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const cluster = await startGrpcApp('cluster');
  // The laptop implements Unary and Chat only: Hold answers UNIMPLEMENTED there.
  const laptop = await startGrpcApp('alice-laptop', ['--methods', 'Unary,Chat']);
  t.after(() => Promise.all([cluster, laptop].map((app) => stopProcess(app.child))));
  const agent = await env.agent('greeter', cluster.value);
  const alice = await env.developer('alice');
  const result = await alice.cli(['intercept', 'greeter', '--port', new URL(laptop.value).port, '--output', 'json', '--fallthrough-status', '501']);
  assert.equal(result.code, 0, result.stderr);
  const header = (JSON.parse(result.stdout) as { header: string }).header;
  const client = new EchoClient(new URL(agent.url).host);
  t.after(() => client.close());

  await t.test('UNIMPLEMENTED from the laptop: the app answers, with the request and its metadata intact', async () => {
    const hold = client.hold(metadataOf(header));
    const first = await nextMessage(hold);
    hold.cancel();
    assert.equal(first.servedBy, 'cluster');
    assert.equal(first.id, header.split('=')[1]);
  });

  await t.test('implemented methods are answered by the laptop, its other errors included', async () => {
    const { reply } = await client.unary('hello', metadataOf(header));
    assert.equal(reply?.servedBy, 'alice-laptop');
    const { error } = await client.unary('fail', metadataOf(header));
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(error?.details, 'refused by alice-laptop: 100% invalid');
    const chat = client.chat(metadataOf(header));
    const reply2 = nextMessage(chat);
    chat.write({ text: 'hi' });
    assert.equal((await reply2).servedBy, 'alice-laptop');
    chat.end();
  });
});
