import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Environment } from '../support/environment.js';
import { report } from './support.js';

/** How a request ended, and after how long. */
async function outcome(url: string, headers: Record<string, string>): Promise<{ ms: number; status?: number; app?: string; code?: string; error?: string }> {
  const startedAt = Date.now();
  try {
    const response = await request(`${url}/anything`, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
    const body = (await response.body.json()) as { app?: string; error?: { code: string } };
    return { ms: Date.now() - startedAt, status: response.statusCode, ...(body.app === undefined ? {} : { app: body.app }), ...(body.error === undefined ? {} : { code: body.error.code }) };
  } catch (err) {
    return { ms: Date.now() - startedAt, error: (err as Error).message };
  }
}

// Issue 14 (Telepresence #3861, #3926): a laptop that goes to sleep keeps its TCP
// connections open but answers nothing. SIGSTOP of the daemon does exactly that.
// The requests already on their way to it must follow the disconnect policy too,
// not wait for an answer that cannot come.
test('fault: a laptop asleep (daemon stopped) with requests in flight', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const carol = await env.developer('carol');
  const [aName, aValue] = await alice.interceptHeader('api');
  const [cName, cValue] = await carol.interceptHeader('api', ['--on-disconnect', 'fail']);
  const agentUrl = api.agentUrls[0]!;
  const pids = [await alice.daemonPid(), await carol.daemonPid()];
  // Alice's next request rides a pooled tunnel connection whose stream will die under it;
  // carol's opens a new one, which her sleeping laptop never accepts. Both must end by the policy.
  assert.equal((await outcome(agentUrl, { [aName]: aValue })).app, 'alice-laptop');
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  const [a, c] = await Promise.all([outcome(agentUrl, { [aName]: aValue }), outcome(agentUrl, { [cName]: cValue })]);
  // Awake again before anything else: a stopped daemon cannot answer `detour quit` at clean-up.
  for (const pid of pids) process.kill(pid, 'SIGCONT');
  report(t, { fallback_ms: a.ms, fallback_app: a.app, fail_ms: c.ms, fail_status: c.status });
  assert.deepEqual({ status: a.status, app: a.app }, { status: 200, app: 'api' }, JSON.stringify(a));
  assert.deepEqual({ status: c.status, code: c.code }, { status: 503, code: 'DETOUR_ERR_TUNNEL_OFFLINE' }, JSON.stringify(c));
  // The manager notices within its ping timeout (1.5 s) plus one ping interval (0.25 s), then the agents learn it.
  for (const r of [a, c]) assert.ok(r.ms <= 2_500, `answered after ${r.ms} ms`);
});
