import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Environment } from '../support/environment.js';
import { eventually, stopProcess } from '../support/processes.js';
import { Load, report } from './support.js';

// Issue 14 (Telepresence #4085: only one of N replicas intercepted): one replica's
// agent dies under load and comes back on its port; the other replica never notices.
test('fault: an agent restarted under load', { timeout: 180_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api', 2);
  const bob = await env.developer('bob');
  const [name, value] = await bob.interceptHeader('api');
  const [restarted, steady] = api.agentUrls as [string, string];

  const loads = {
    restartedUnmatched: new Load(t, restarted, { connections: 4, expectApp: 'api', maxDurationMs: 120_000 }),
    restartedMatched: new Load(t, restarted, { connections: 2, headers: { [name]: value }, expectApp: 'bob-laptop', maxDurationMs: 120_000 }),
    steadyUnmatched: new Load(t, steady, { connections: 4, expectApp: 'api', maxDurationMs: 120_000 }),
    steadyMatched: new Load(t, steady, { connections: 2, headers: { [name]: value }, expectApp: 'bob-laptop', maxDurationMs: 120_000 }),
  };
  await eventually('load is flowing', async () => (loads.restartedUnmatched.requests > 200 && loads.steadyMatched.requests > 50 ? true : undefined), 30_000);

  await stopProcess(api.agents[0]!, 'SIGKILL');
  const killedAt = Date.now();
  const again = await env.agent('api', api.appUrl, [], Number(new URL(restarted).port));
  const restartMs = Date.now() - killedAt;
  // The new agent routes by the same rules as soon as it has them: matched traffic reaches bob again.
  await eventually('the restarted agent routes bob again', async () => {
    const r = await request(`${again.url}/anything`, { headers: { [name]: value } });
    return ((await r.body.json()) as { app?: string }).app === 'bob-laptop' ? true : undefined;
  }, 20_000);
  const before = loads.restartedUnmatched.requests;
  await eventually('the restarted agent carries load again', async () => (loads.restartedUnmatched.requests > before + 200 ? true : undefined), 30_000);

  const s = Object.fromEntries(await Promise.all(Object.entries(loads).map(async ([k, load]) => [k, await load.stop()] as const)));
  report(t, {
    agent_back_after_ms: restartMs,
    restarted_requests: s.restartedUnmatched!.requests + s.restartedMatched!.requests,
    restarted_connection_errors: s.restartedUnmatched!.failed + s.restartedMatched!.failed,
    restarted_misrouted: s.restartedUnmatched!.misrouted + s.restartedMatched!.misrouted,
    steady_requests: s.steadyUnmatched!.requests + s.steadyMatched!.requests,
    steady_failed: s.steadyUnmatched!.failed + s.steadyMatched!.failed,
    steady_misrouted: s.steadyUnmatched!.misrouted + s.steadyMatched!.misrouted,
  });
  for (const k of ['steadyUnmatched', 'steadyMatched'] as const) {
    assert.deepEqual({ failed: s[k]!.failed, misrouted: s[k]!.misrouted }, { failed: 0, misrouted: 0 }, `${k}: ${s[k]!.samples.join('; ')}`);
  }
  for (const k of ['restartedUnmatched', 'restartedMatched'] as const) {
    // What a caller may see when the agent it was connected to goes away: its connection fails, nothing else.
    assert.deepEqual({ badStatus: s[k]!.badStatus, misrouted: s[k]!.misrouted }, { badStatus: 0, misrouted: 0 }, `${k}: ${s[k]!.samples.join('; ')}`);
  }
});
