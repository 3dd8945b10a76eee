import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Environment } from '../support/environment.js';
import { DaemonApi, Load, report, scale } from './support.js';

// Issue 14: intercepts come and go all day on a shared agent; none of that may
// touch the traffic nobody intercepts, on connections that stay open throughout.
test('fault: intercept create/leave cycles by two developers while unmatched traffic runs over keep-alive connections', { timeout: 900_000 }, async (t) => {
  const cycles = scale(60, 1_000);
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const devs = await Promise.all(['alice', 'bob'].map((name) => env.developer(name)));
  const agentUrl = api.agentUrls[0]!;
  const unmatched = new Load(t, agentUrl, { connections: 8, expectApp: 'api', maxDurationMs: 850_000 });

  // One developer's failure stops the other's loop too, so a failing case ends at once.
  let failed = false;
  const churn = async (dev: (typeof devs)[number], index: number) => {
    const daemon = new DaemonApi(dev.home);
    let matchedOk = 0;
    const misses: string[] = [];
    try {
      for (let i = 0; i < cycles && !failed; i++) {
        // A fresh value per cycle: a request is meant for exactly the intercept that is live now.
        const header: [string, string] = ['x-telepresence-id', `${dev.name}-${index}-${i}`];
        await daemon.intercept(`churn-${dev.name}`, 'api', header, dev.localPort);
        // Between create (every agent acked) and leave, the header must reach this developer.
        const response = await request(`${agentUrl}/anything`, { headers: { [header[0]]: header[1] } });
        const body = (await response.body.json()) as { app?: string };
        if (response.statusCode === 200 && body.app === `${dev.name}-laptop`) matchedOk++;
        else if (misses.length < 5) misses.push(`cycle ${i}: ${response.statusCode} from ${String(body.app)}`);
        await daemon.leave(`churn-${dev.name}`);
      }
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      await daemon.close();
    }
    return { matchedOk, misses };
  };
  const startedAt = Date.now();
  const results = await Promise.all(devs.map((dev, i) => churn(dev, i)));
  const churnMs = Date.now() - startedAt;
  const load = await unmatched.stop();

  report(t, {
    cycles_per_developer: cycles,
    churn_s: churnMs / 1000,
    unmatched_requests: load.requests,
    unmatched_failed: load.failed,
    unmatched_misrouted: load.misrouted,
    unmatched_req_per_s: load.ratePerSec,
    matched_reached_developer: results.map((r) => r.matchedOk).join('+'),
  });
  assert.ok(load.requests > cycles, `the unmatched load ran (${load.requests} requests)`);
  assert.deepEqual({ failed: load.failed, misrouted: load.misrouted }, { failed: 0, misrouted: 0 }, load.samples.join('; '));
  for (const [i, r] of results.entries()) assert.equal(r.matchedOk, cycles, `${devs[i]!.name}: ${r.misses.join('; ')}`);
});
