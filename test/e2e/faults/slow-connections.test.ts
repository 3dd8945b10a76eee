import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Environment } from '../support/environment.js';
import { rssBytes } from '../support/processes.js';
import { Load, report, scale } from './support.js';

const HEADER_TIMEOUT_MS = 2_000;
const GOOD_WINDOW_MS = 4_000;

/**
 * One hostile connection: `slowloris` sends a request head a few bytes at a
 * time and never finishes it, `half-open` sends part of a head and shuts its
 * side, `idle` connects and says nothing. Resolves when the agent closes it.
 */
function hostile(port: number, kind: 'slowloris' | 'half-open' | 'idle', deadlineMs: number): Promise<{ closedAfterMs: number | undefined }> {
  return new Promise((resolve) => {
    const startedAt = Date.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    let drip: NodeJS.Timeout | undefined;
    const give = setTimeout(() => {
      socket.destroy();
      resolve({ closedAfterMs: undefined });
    }, deadlineMs);
    socket.on('error', () => undefined);
    socket.resume();
    socket.once('close', () => {
      clearTimeout(give);
      clearInterval(drip);
      resolve({ closedAfterMs: Date.now() - startedAt });
    });
    socket.once('connect', () => {
      if (kind === 'slowloris') {
        socket.write('GET /slow HTTP/1.1\r\nHost: api\r\n');
        drip = setInterval(() => socket.write('x-a: b\r\n'), 300);
      } else if (kind === 'half-open') {
        socket.end('GET /half HTTP/1.1\r\nHost: ');
      }
    });
  });
}

/**
 * Good traffic through the agent for one window, and, in the same window, the
 * same app called directly: the machine is shared (other builds, the hostile
 * clients in this process), so the agent's rate is judged as a share of what
 * the machine gave the direct path at the same time, not against another moment
 * (reported as the case's figures).
 */
async function goodRate(t: TestContext, agentUrl: string, appUrl: string): Promise<{ rate: number; share: number; requests: number; failed: number; misrouted: number }> {
  const load = new Load(t, agentUrl, { connections: 4, expectApp: 'api', maxDurationMs: GOOD_WINDOW_MS });
  const direct = new Load(t, appUrl, { connections: 2, expectApp: 'api', maxDurationMs: GOOD_WINDOW_MS });
  await new Promise((resolve) => setTimeout(resolve, GOOD_WINDOW_MS));
  const [s, d] = await Promise.all([load.stop(), direct.stop()]);
  return { rate: s.ratePerSec, share: s.ratePerSec / Math.max(d.ratePerSec, 1), requests: s.requests, failed: s.failed, misrouted: s.misrouted };
}

// Issue 14: slowloris, half-open and idle connections by the thousand while good
// traffic flows: the timeouts close them, memory stays bounded, good traffic goes on.
test('fault: thousands of slow, half-open and idle connections while good traffic flows', { timeout: 180_000 }, async (t) => {
  const hostileCount = scale(600, 2_000);
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.app('api');
  // --protocol http1: on an `auto` port a connection that stays silent is, by design, handed to the app
  // after the header timeout (it may speak a server-first protocol), and then the app's timeouts apply.
  const agent = await env.agent('api', app.url, ['--header-timeout-ms', String(HEADER_TIMEOUT_MS), '--protocol', 'http1']);
  const port = Number(new URL(agent.url).port);
  const pid = agent.child.pid!;

  await goodRate(t, agent.url, app.url); // warm-up: JIT and pools, so "before" is not a cold start
  const baseline = await goodRate(t, agent.url, app.url);
  const rssBefore = rssBytes(pid);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(pid))), 100);
  t.after(() => clearInterval(sampler));
  const kinds = ['slowloris', 'half-open', 'idle'] as const;
  const closings: Promise<{ closedAfterMs: number | undefined }>[] = [];
  // Opened in batches so the accept queue (backlog) is not the thing under test.
  for (let i = 0; i < hostileCount; i += 100) {
    const batch = Array.from({ length: Math.min(100, hostileCount - i) }, (_, j) => hostile(port, kinds[(i + j) % 3]!, HEADER_TIMEOUT_MS * 6));
    closings.push(...batch);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const during = await goodRate(t, agent.url, app.url);
  const closed = await Promise.all(closings);
  clearInterval(sampler);
  const notClosed = closed.filter((c) => c.closedAfterMs === undefined).length;
  const slowest = Math.max(...closed.map((c) => c.closedAfterMs ?? Infinity));
  // And it goes on as before once they are gone.
  const after = await goodRate(t, agent.url, app.url);

  report(t, {
    hostile_connections: hostileCount,
    good_req_per_s_before: baseline.rate,
    good_req_per_s_during: during.rate,
    good_req_per_s_after: after.rate,
    good_share_of_direct_before: baseline.share,
    good_share_of_direct_during: during.share,
    good_failed: baseline.failed + during.failed + after.failed,
    hostile_not_closed: notClosed,
    slowest_close_ms: slowest,
    agent_rss_growth_mib: (rssPeak - rssBefore) / 2 ** 20,
  });
  assert.deepEqual({ failed: during.failed + after.failed, misrouted: during.misrouted + after.misrouted }, { failed: 0, misrouted: 0 });
  assert.equal(notClosed, 0, 'every hostile connection was closed by the agent');
  // The head timeout, plus the lingering close that lets a client read the 408, plus scheduling on a busy machine.
  assert.ok(slowest <= HEADER_TIMEOUT_MS * 3 + 2_000, `the slowest hostile connection was closed after ${slowest} ms`);
  // Good traffic keeps going: every request answered, and answers all through the window (at least one per
  // 100 ms). How fast is reported, not asserted: on two cores shared with the hostile clients, the app and
  // other builds, the agent's share of the direct rate during the attack ranged from 0.2 to 1.6 times its
  // share before over six runs, so no threshold both holds and means something here (perf belongs to `npm run bench`).
  assert.ok(during.requests >= GOOD_WINDOW_MS / 100, `good traffic went on during the attack (${during.requests} requests in ${GOOD_WINDOW_MS} ms)`);
  assert.ok(rssPeak - rssBefore < 96 * 2 ** 20, `agent RSS grew by ${((rssPeak - rssBefore) / 2 ** 20).toFixed(1)} MiB`);
});
