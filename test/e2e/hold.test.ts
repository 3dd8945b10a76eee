import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Environment } from './support/environment.js';
import type { Developer } from './support/environment.js';
import { eventually } from './support/processes.js';

// Issue 14: `--on-disconnect hold[=DURATION]`, with real processes. A laptop
// asleep is a SIGSTOPped daemon (as in faults/laptop-sleep.test.ts): its
// intercepts go offline when the manager's ping times out, and come back when
// it is woken (SIGCONT) and reconnects within its lease. Holds are generous
// (10 s, the default) where the test must finish within one: the machine may be busy.

interface Outcome {
  ms: number;
  status: number;
  app: string;
  bytes?: number;
}

async function send(url: string, headers: Record<string, string>, body?: Buffer): Promise<Outcome> {
  const startedAt = performance.now();
  const response = await request(url, { method: body === undefined ? 'GET' : 'POST', headers, body, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const answer = (await response.body.json()) as { app: string; bytes?: number };
  return { ms: performance.now() - startedAt, status: response.statusCode, app: answer.app, ...(answer.bytes === undefined ? {} : { bytes: answer.bytes }) };
}

async function offline(observer: Developer, name: string): Promise<void> {
  await eventually(`${name}'s intercept to go offline`, async () => {
    const list = JSON.parse((await observer.cli(['list', '--output', 'json'])).stdout) as { services: Array<{ intercepts: Array<{ owner: { name: string }; online: boolean }> }> };
    return list.services.some((s) => s.intercepts.some((i) => i.owner.name === name && !i.online)) ? true : undefined;
  }, 15_000, 100);
}

/** A manager, the api service (its agent logging at info) and two developers, alice and bob. */
async function setup(t: TestContext) {
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.app('api');
  // At info, the agent logs each held request and its release: how the test knows a request waits.
  const agent = await env.agent('api', app.url, [], 0, { DETOUR_LOG_LEVEL: 'info' });
  return { env, agent, alice: await env.developer('alice'), bob: await env.developer('bob') };
}

test('hold: while the laptop sleeps a request waits and the laptop answers it on waking; others are unaffected; a large body does not wait', { timeout: 120_000 }, async (t) => {
  const { agent, alice, bob } = await setup(t);
  const [aName, aValue] = await alice.interceptHeader('api', ['--on-disconnect', 'hold']);
  const [bName, bValue] = await bob.interceptHeader('api');
  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { intercepts: Array<{ spec: { onDisconnect: string; holdMs: number } }> };
  assert.deepEqual(status.intercepts.map((i) => [i.spec.onDisconnect, i.spec.holdMs]), [['hold', 10_000]]);
  assert.match((await alice.cli(['status'])).stdout, /hold 10s/);
  assert.equal((await send(`${agent.url}/warm`, { [aName]: aValue })).app, 'alice-laptop');

  const pid = await alice.daemonPid();
  process.kill(pid, 'SIGSTOP');
  let awake = false;
  const wake = () => {
    if (!awake) process.kill(pid, 'SIGCONT');
    awake = true;
  };
  // Awake before clean-up, whatever fails: a stopped daemon cannot answer `detour quit`
  // (t.after hooks run in order, after env.close, so not there).
  try {
    await offline(bob, 'alice');
    assert.match((await bob.cli(['list'])).stdout, /offline \(hold 10s\)/);

    let settled = false;
    const held = send(`${agent.url}/while-asleep`, { [aName]: aValue }).finally(() => (settled = true));
    await eventually('the agent to hold it', async () => (/"target":"\/while-asleep"[^\n]*holding a request/.test(agent.stderr()) ? true : undefined), 5_000);

    // While it waits: unmatched traffic and another developer go on at once.
    const unmatched = await send(`${agent.url}/unmatched`, {});
    const other = await send(`${agent.url}/bob`, { [bName]: bValue });
    assert.deepEqual([unmatched.app, other.app], ['api', 'bob-laptop']);
    assert.ok(unmatched.ms < 2_000 && other.ms < 2_000, `unmatched ${unmatched.ms} ms, bob ${other.ms} ms`);
    // A body over the 1 MiB bound is not held: the app takes it at once.
    const size = 1024 * 1024 + 1;
    const big = await send(`${agent.url}/upload`, { [aName]: aValue, 'content-type': 'application/octet-stream' }, Buffer.alloc(size, 0x61));
    assert.deepEqual([big.app, big.bytes], ['api', size]);
    assert.ok(big.ms < 3_000, `the large body fell back after ${big.ms} ms`);
    assert.equal(settled, false, 'the held request is still waiting');

    const wokeAt = performance.now();
    wake();
    const answered = await held;
    assert.deepEqual([answered.status, answered.app], [200, 'alice-laptop'], JSON.stringify(answered));
    assert.ok(performance.now() - wokeAt < 10_000, `answered ${performance.now() - wokeAt} ms after waking`);
    assert.match(agent.stderr(), /"outcome":"online"[^\n]*held request released/);
  } finally {
    wake();
  }
});

test('hold: the hold time passes and the app answers; a daemon killed and reconnected on its home lets its held request go at once', { timeout: 120_000 }, async (t) => {
  const { env, agent, alice, bob } = await setup(t);
  const carol = await env.developer('carol');
  const [aName, aValue] = await alice.interceptHeader('api', ['--on-disconnect', 'hold=2s']);
  const [cName, cValue] = await carol.interceptHeader('api', ['--on-disconnect', 'hold=20s']);
  assert.equal((await send(`${agent.url}/warm`, { [aName]: aValue })).app, 'alice-laptop');

  const pid = await alice.daemonPid();
  process.kill(pid, 'SIGSTOP');
  let expired: Outcome;
  try {
    await offline(bob, 'alice');
    expired = await send(`${agent.url}/expires`, { [aName]: aValue });
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  assert.equal(expired.app, 'api');
  assert.ok(expired.ms >= 1_900 && expired.ms < 6_000, `the app answered after ${expired.ms} ms of a 2 s hold`);
  assert.match(agent.stderr(), /"outcome":"expired"[^\n]*held request released/);

  // kill -9, then `detour connect` again on the same home: the new session replaces the
  // old one, whose intercepts end with it (a daemon keeps them in memory only), so the
  // request held for them goes to the app at once, not after its 20 s.
  process.kill(await carol.daemonPid(), 'SIGKILL');
  await offline(bob, 'carol');
  const held = send(`${agent.url}/for-the-dead`, { [cName]: cValue });
  await eventually('the agent to hold it', async () => (/"target":"\/for-the-dead"[^\n]*holding a request/.test(agent.stderr()) ? true : undefined), 5_000);
  const connected = await carol.cli(['connect', '--manager', env.managerUrl, '--token-file', env.tokenFile, '--name', 'carol']);
  assert.equal(connected.code, 0, connected.stderr);
  const answered = await held;
  assert.equal(answered.app, 'api');
  assert.ok(answered.ms < 15_000, `answered after ${answered.ms} ms, before its 20 s hold`);
  assert.match(agent.stderr(), /"outcome":"removed"[^\n]*held request released/);
});
