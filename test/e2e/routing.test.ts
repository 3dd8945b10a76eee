import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, request } from 'undici';
import { Environment } from './support/environment.js';

interface Echo {
  app: string;
  path: string;
  headers: Record<string, string>;
}

async function get(client: Client, path: string, headers: Record<string, string> = {}): Promise<Echo> {
  const response = await client.request({ method: 'GET', path, headers });
  assert.equal(response.statusCode, 200);
  return (await response.body.json()) as Echo;
}

test('two developers and header-less traffic share one keep-alive connection, each request routed on its own', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');

  // One connection, opened before any intercept exists, kept for every request below.
  const client = new Client(api.agentUrls[0]!, { pipelining: 1 });
  t.after(() => client.close());
  assert.equal((await get(client, '/before')).app, 'api');

  const aliceIntercept = await alice.intercept('api');
  const bobIntercept = await bob.intercept('api');
  assert.match(aliceIntercept.header!, /^x-telepresence-id=alice-[0-9a-f]{6}$/);
  assert.notEqual(aliceIntercept.header, bobIntercept.header);
  const [aliceName, aliceValue] = aliceIntercept.header!.split('=') as [string, string];
  const [, bobValue] = bobIntercept.header!.split('=') as [string, string];

  // No sleep: intercept returned, so every agent already routes.
  for (let round = 0; round < 3; round += 1) {
    assert.equal((await get(client, '/x', { [aliceName]: aliceValue })).app, 'alice-laptop');
    assert.equal((await get(client, '/x')).app, 'api');
    assert.equal((await get(client, '/x', { [aliceName]: bobValue })).app, 'bob-laptop');
    assert.equal((await get(client, '/x', { [aliceName]: 'someone-else' })).app, 'api');
  }

  // What the developer's app receives: the request as sent, Host kept, nothing added.
  const seen = await get(client, '/path?q=1', { [aliceName]: aliceValue, 'x-custom': 'yes' });
  assert.equal(seen.path, '/path?q=1');
  assert.equal(seen.headers['x-custom'], 'yes');
  assert.equal(seen.headers.host, new URL(api.agentUrls[0]!).host);
  assert.equal(seen.headers['x-forwarded-for'], undefined);
  assert.equal(seen.headers['detour-intercept-id'], undefined);
});

test('replicas all route the same way as soon as intercept returns', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api', 3);
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  for (const url of api.agentUrls) {
    const response = await request(url, { headers: { [name]: value } });
    assert.equal(((await response.body.json()) as Echo).app, 'alice-laptop');
  }
  const list = JSON.parse((await alice.cli(['list', '--output', 'json'])).stdout) as { services: Array<{ name: string; agents: unknown[]; intercepts: Array<{ owner: { name: string } }> }> };
  const service = list.services.find((s) => s.name === 'api')!;
  assert.equal(service.agents.length, 3);
  assert.equal(service.intercepts[0]!.owner.name, 'alice');
});

test('path filters, regex, AND/OR and global with its refusals', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const web = await env.service('web');
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  const client = new Client(api.agentUrls[0]!);
  t.after(() => client.close());

  // Header regex AND (path prefix OR path equal).
  await alice.intercept('api', ['--http-header', 'x-team~=blue|green', '--http-path-prefix', '/orders/', '--http-path-equal', '/health', '--name', 'orders']);
  assert.equal((await get(client, '/orders/7?x=1', { 'x-team': 'blue' })).app, 'alice-laptop');
  assert.equal((await get(client, '/health', { 'x-team': 'green' })).app, 'alice-laptop');
  assert.equal((await get(client, '/orders/7', { 'x-team': 'red' })).app, 'api');
  assert.equal((await get(client, '/users', { 'x-team': 'blue' })).app, 'api');
  assert.equal((await get(client, '/orders/7', { 'x-team': 'bluegreen' })).app, 'api', 'regex must match the whole value');

  // Two headers ANDed; path regex.
  await bob.intercept('api', ['--http-header', 'x-a=1', '--http-header', 'x-b=2', '--http-path-regex', '/items/[0-9]+']);
  assert.equal((await get(client, '/items/42', { 'x-a': '1', 'x-b': '2' })).app, 'bob-laptop');
  assert.equal((await get(client, '/items/42', { 'x-a': '1' })).app, 'api');
  assert.equal((await get(client, '/items/abc', { 'x-a': '1', 'x-b': '2' })).app, 'api');

  // Global is refused while other intercepts exist…
  const refused = await bob.cli(['intercept', 'api', '--port', String(bob.localPort), '--global', '--name', 'all-api']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /cannot intercept all of api: it has 2 other intercept\(s\), owned by alice, bob/);
  assert.equal(refused.stderr.trim().split('\n').at(-1)!.startsWith('detour:'), true);

  // …and takes everything on a free service, after which personal intercepts are refused.
  await bob.intercept('web', ['--global']);
  const webResponse = await request(web.agentUrls[0]!);
  assert.equal(((await webResponse.body.json()) as Echo).app, 'bob-laptop');
  const blocked = await alice.cli(['intercept', 'web', '--port', String(alice.localPort)]);
  assert.equal(blocked.code, 2);
  assert.match(blocked.stderr, /bob holds a global intercept/);
});

test('global intercepts are refused entirely with --no-global', async (t) => {
  const env = await Environment.create({ managerArgs: ['--no-global'] });
  t.after(() => env.close());
  await env.service('api');
  const alice = await env.developer('alice');
  const refused = await alice.cli(['intercept', 'api', '--port', String(alice.localPort), '--global']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /refuses global intercepts/);
});

test('a conflict is refused naming the owner; leave restores the route', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  await alice.intercept('api', ['--http-header', 'x-session=s1']);

  const conflict = await bob.cli(['intercept', 'api', '--port', String(bob.localPort), '--http-header', 'x-session=s1']);
  assert.equal(conflict.code, 2);
  assert.match(conflict.stderr, /alice already intercepts api with the same matchers/);
  const list = JSON.parse((await bob.cli(['list', '--output', 'json'])).stdout) as { services: Array<{ name: string; intercepts: unknown[] }> };
  assert.equal(list.services.find((s) => s.name === 'api')!.intercepts.length, 1, 'nothing created half-way');

  // Bob cannot leave Alice's intercept (he does not hold one of that name).
  const notHis = await bob.cli(['leave', 'api']);
  assert.equal(notHis.code, 2);
  assert.match(notHis.stderr, /you have no intercept named api/);

  const client = new Client(api.agentUrls[0]!);
  t.after(() => client.close());
  assert.equal((await get(client, '/', { 'x-session': 's1' })).app, 'alice-laptop');
  const left = await alice.cli(['leave', 'api']);
  assert.equal(left.code, 0);
  assert.equal((await get(client, '/', { 'x-session': 's1' })).app, 'api');
});

test('CLI mistakes print one line and exit 2', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  await env.service('api');
  await env.service('web');
  const alice = await env.developer('alice');
  const port = String(alice.localPort);
  const cases: Array<[string[], RegExp]> = [
    [['intercept', 'api', '--port', port, '--http-header', 'no-equals-sign'], /bad --http-header "no-equals-sign": use NAME=VALUE, NAME~=REGEX or auto/],
    [['intercept', 'api', '--port', port, '--http-header', 'x-a~=(unclosed'], /invalid header x-a regex/],
    [['intercept', 'api', '--port', port, '--http-path-regex', '(a)\\1'], /invalid path regex/],
    [['intercept', 'nope', '--port', port], /no agent serves nope; known services: api, web/],
    [['intercept', 'api', '--port', 'http'], /--port.*expected a whole number/],
    [['intercept', 'api', '--port', port, '--global', '--http-header', 'auto'], /--global takes all traffic/],
    [['intercept', 'api', '--port', port, '--on-disconnect', 'explode'], /bad --on-disconnect "explode": use fallback, fail, hold or hold=DURATION/],
    [['leave', 'nothing'], /you have no intercept named nothing/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ];
  for (const [args, expected] of cases) {
    const result = await alice.cli(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${result.stderr}`);
  }
  const elsewhere = await env.developer('carol');
  await elsewhere.cli(['quit']);
  const notConnected = await elsewhere.cli(['intercept', 'api', '--port', port]);
  assert.equal(notConnected.code, 2);
  assert.match(notConnected.stderr, /not connected: no daemon runs for .*; run `detour connect --manager URL --token-file FILE` first/);
});
