import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Environment } from '../support/environment.js';
import { FAULTY_APP } from '../support/processes.js';
import { Load, report } from './support.js';

/** Status, detour error code and how long the answer took. */
async function timed(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; code: string | undefined; app: string | undefined; ms: number }> {
  const startedAt = Date.now();
  const response = await request(`${url}${path}`, { headers, headersTimeout: 20_000, bodyTimeout: 20_000 });
  const body = (await response.body.json().catch(() => ({}))) as { app?: string; error?: { code?: string } };
  return { status: response.statusCode, code: body.error?.code, app: body.app, ms: Date.now() - startedAt };
}

// Issue 14: a developer's laptop app that is slow, resets, or answers garbage
// gets its caller a clear error (or its slow answer), and nobody else notices.
test('fault: a laptop app that is slow, resets or answers garbage', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const agentUrl = api.agentUrls[0]!;
  const carol = await env.developer('carol', [FAULTY_APP, '--name', 'carol-laptop']);
  const bob = await env.developer('bob');
  const [cName, cValue] = await carol.interceptHeader('api');
  const [bName, bValue] = await bob.interceptHeader('api');
  const carolHeaders = { [cName]: cValue };

  const others = [
    new Load(t, agentUrl, { connections: 3, expectApp: 'api', maxDurationMs: 100_000 }),
    new Load(t, agentUrl, { connections: 2, headers: { [bName]: bValue }, expectApp: 'bob-laptop', maxDurationMs: 100_000 }),
  ];
  const slow = timed(agentUrl, '/slow?ms=3000', carolHeaders);
  const reset = await timed(agentUrl, '/reset', carolHeaders);
  const garbage = await timed(agentUrl, '/garbage', carolHeaders);
  const slowAnswer = await slow;
  const healthy = await timed(agentUrl, '/anything', carolHeaders);
  const [unmatched, bobs] = await Promise.all(others.map((load) => load.stop()));

  report(t, {
    reset_status: reset.status,
    reset_ms: reset.ms,
    garbage_status: garbage.status,
    garbage_ms: garbage.ms,
    slow_status: slowAnswer.status,
    slow_ms: slowAnswer.ms,
    unmatched_requests: unmatched!.requests,
    unmatched_failed: unmatched!.failed,
    other_developer_requests: bobs!.requests,
    other_developer_failed: bobs!.failed,
  });
  for (const [what, r] of [['reset', reset], ['garbage', garbage]] as const) {
    assert.equal(r.status, 502, `${what}: ${JSON.stringify(r)}`);
    assert.match(r.code ?? '', /^DETOUR_ERR_/, `${what}: a detour error body`);
    assert.ok(r.ms < 5_000, `${what}: answered in ${r.ms} ms`);
  }
  assert.deepEqual({ status: slowAnswer.status, app: slowAnswer.app }, { status: 200, app: 'carol-laptop' });
  assert.ok(slowAnswer.ms >= 3_000, 'the slow answer was waited for, not cut');
  assert.deepEqual({ status: healthy.status, app: healthy.app }, { status: 200, app: 'carol-laptop' }, 'carol\'s next request works');
  for (const s of [unmatched!, bobs!]) assert.deepEqual({ failed: s.failed, misrouted: s.misrouted }, { failed: 0, misrouted: 0 }, s.samples.join('; '));
  assert.ok(unmatched!.requests > 100 && bobs!.requests > 50, 'the others kept their traffic going');
});
