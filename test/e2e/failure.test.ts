import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, request } from 'undici';
import { Environment } from './support/environment.js';
import { eventually, runCli } from './support/processes.js';

async function appOf(url: string, headers: Record<string, string> = {}): Promise<{ status: number; app?: string; body: unknown }> {
  const response = await request(url, { headers });
  const body = (await response.body.json()) as { app?: string };
  return { status: response.statusCode, ...(body.app === undefined ? {} : { app: body.app }), body };
}

test('a daemon killed with -9: its requests fall back (or get 503 under fail) and the other developer is unaffected', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  const carol = await env.developer('carol');
  const a = await alice.interceptHeader('api');
  const b = await bob.interceptHeader('api');
  const c = await carol.interceptHeader('api', ['--on-disconnect', 'fail']);
  const agent = api.agentUrls[0]!;
  assert.equal((await appOf(agent, { [a[0]]: a[1] })).app, 'alice-laptop');
  assert.equal((await appOf(agent, { [c[0]]: c[1] })).app, 'carol-laptop');

  process.kill(await alice.daemonPid(), 'SIGKILL');
  process.kill(await carol.daemonPid(), 'SIGKILL');
  const killedAt = Date.now();
  await eventually('alice falls back to the app', async () => ((await appOf(agent, { [a[0]]: a[1] })).app === 'api' ? true : undefined), 2_000);
  const fellBackAfterMs = Date.now() - killedAt;
  assert.ok(fellBackAfterMs <= 2_000, `fell back after ${fellBackAfterMs} ms`);

  const failed = await eventually('carol gets a 503', async () => {
    const r = await appOf(agent, { [c[0]]: c[1] });
    return r.status === 503 ? r : undefined;
  }, 2_000);
  const error = (failed.body as { error: { code: string; message: string; details: { intercept: string } } }).error;
  assert.equal(error.code, 'DETOUR_ERR_TUNNEL_OFFLINE');
  assert.match(error.message, /intercept api on api is offline: its developer carol is not connected/);

  assert.equal((await appOf(agent, { [b[0]]: b[1] })).app, 'bob-laptop');
  assert.equal((await appOf(agent)).app, 'api');
  const list = JSON.parse((await bob.cli(['list', '--output', 'json'])).stdout) as { services: Array<{ intercepts: Array<{ owner: { name: string }; online: boolean }> }> };
  const online = Object.fromEntries(list.services[0]!.intercepts.map((i) => [i.owner.name, i.online]));
  assert.deepEqual(online, { alice: false, bob: true, carol: false });
});

test('an expired lease removes the intercepts of a vanished developer', async (t) => {
  const env = await Environment.create({ managerArgs: ['--lease-ms', '1000'] });
  t.after(() => env.close());
  await env.service('api');
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  await alice.intercept('api');
  process.kill(await alice.daemonPid(), 'SIGKILL');
  await eventually('alice\'s intercept is removed', async () => {
    const list = JSON.parse((await bob.cli(['list', '--output', 'json'])).stdout) as { services: Array<{ intercepts: unknown[] }> };
    return list.services[0]!.intercepts.length === 0 ? true : undefined;
  }, 5_000);
});

test('the manager killed and restarted: unmatched traffic never fails and intercepts come back', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  const agent = api.agentUrls[0]!;
  const client = new Client(agent);
  t.after(() => client.close());

  // Unmatched traffic runs the whole time the manager is down and coming back.
  let stop = false;
  let unmatchedOk = 0;
  const failures: string[] = [];
  const background = (async () => {
    const deadline = Date.now() + 30_000;
    while (!stop && Date.now() < deadline) {
      try {
        const response = await client.request({ method: 'GET', path: '/steady' });
        const body = (await response.body.json()) as { app: string };
        if (response.statusCode === 200 && body.app === 'api') unmatchedOk += 1;
        else failures.push(`${response.statusCode} ${body.app}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  })();

  await env.stopManager('SIGKILL');
  const offline = await appOf(agent, { [name]: value });
  assert.equal(offline.app, 'api', 'fallback while the manager is down');
  await env.startManager();
  await eventually('the intercept comes back', async () => ((await appOf(agent, { [name]: value })).app === 'alice-laptop' ? true : undefined), 15_000);
  stop = true;
  await background;
  assert.deepEqual(failures, []);
  assert.ok(unmatchedOk > 0);
  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { connection: { state: string } };
  assert.equal(status.connection.state, 'ready');
});

test('connect with a wrong token fails with one line and exit 2', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const wrong = join(env.dir, 'wrong-token');
  await writeFile(wrong, 'this-is-not-the-token-at-all\n');
  const result = await runCli(['connect', '--manager', env.managerUrl, '--token-file', wrong, '--name', 'eve'], { DETOUR_HOME: join(env.dir, 'home-eve') });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /connect failed: the bearer token is wrong/);
  const api = await request(`${env.managerUrl}/v1/services`);
  assert.equal(api.statusCode, 401);
  assert.equal(((await api.body.json()) as { error: { code: string } }).error.code, 'DETOUR_ERR_AUTH_MISSING_TOKEN');
});
