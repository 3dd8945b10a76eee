import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Intercept } from '@detour/protocol';
import { MAX_HELD_BODY_BYTES, MAX_HELD_REQUESTS } from '../src/held-requests.js';
import { Router } from '../src/router.js';
import type { HoldAsk, Route } from '../src/router.js';
import { intercept, routeEvents } from './helpers.js';

// The `--on-disconnect hold` decision on plain data (issue 14): when a request
// waits, what wakes it, where it goes then, and the events it publishes. Real
// timers, with holds of a few hundred ms; nothing is slept, every end is awaited.

const alice = new Map([['x-telepresence-id', ['alice']]]);

const events = routeEvents;

function router(intercepts: Intercept[], version = 1): Router {
  const r = new Router({ service: 'orders', agentId: 'orders-1' });
  r.install({ service: 'orders', version, intercepts });
  return r;
}

const held = (overrides: Partial<Intercept> = {}): Intercept => intercept({ id: 'h', online: false, onDisconnect: 'hold', holdMs: 5000, ...overrides });

/** Holds a request and resolves with its final route (and how long it took); fails if it did not wait. */
function holdRequest(r: Router, ask: Partial<HoldAsk> & { intercept: Intercept }): { done: Promise<{ route: Route; ms: number }>; cancel(): void; untilMs: number } {
  const since = performance.now();
  let resolve!: (value: { route: Route; ms: number }) => void;
  let deadline: NodeJS.Timeout | undefined;
  // Held requests' timers are unref'd; this deadline keeps the test alive, and bounds it.
  const done = new Promise<{ route: Route; ms: number }>((ok, fail) => {
    resolve = ok;
    deadline = setTimeout(() => fail(new Error('the held request was not resumed within 10 s')), 10_000);
  });
  const result = r.hold({ method: 'GET', target: '/', bodyBytes: 0, ...ask }, (route) => {
    clearTimeout(deadline);
    resolve({ route, ms: performance.now() - since });
  });
  if ('kind' in result) assert.fail(`the request should wait, got route ${result.kind}`);
  return {
    done,
    cancel: () => {
      clearTimeout(deadline);
      result.cancel();
    },
    untilMs: result.untilMs,
  };
}

test('a hold intercept whose developer is offline: the route is hold, and only hold() publishes', (t) => {
  const seen = events(t);
  const i = held();
  const r = router([i]);
  assert.deepEqual(r.decide('GET', '/', alice, true), { kind: 'hold', intercept: i });
  // Online, but the link to the manager is down: the developer cannot be reached either.
  const online = held({ online: true });
  assert.deepEqual(router([online]).decide('GET', '/', alice, false), { kind: 'hold', intercept: online });
  assert.deepEqual(r.refused('GET', '/', i), { kind: 'hold', intercept: i });
  const tcp = held({ global: true, mechanism: 'tcp', headers: [] });
  assert.deepEqual(router([tcp]).decideConnection(true), { kind: 'hold', intercept: tcp });
  assert.equal(seen.length, 0, 'a hold route is published when the request really waits');
});

test('the developer comes back: the next rule set wakes the request at once, to the new intercept', async (t) => {
  const seen = events(t);
  const i = held();
  const r = router([i]);
  const request = holdRequest(r, { intercept: i, target: '/orders' });
  assert.equal(r.heldCount, 1);
  assert.ok(request.untilMs - Date.now() > 4000 && request.untilMs - Date.now() <= 5000, 'the hold time is the intercept holdMs');
  const back = { ...i, online: true };
  r.install({ service: 'orders', version: 2, intercepts: [back] });
  const { route, ms } = await request.done;
  assert.deepEqual(route, { kind: 'intercept', intercept: back });
  assert.ok(ms < 1000, `woken on install, not by the timer (${ms} ms)`);
  assert.equal(r.heldCount, 0);
  assert.deepEqual(
    seen.map((e) => [e.route, e.interceptId, e.target, e.ruleVersion, e.hold?.outcome]),
    [
      ['hold', 'h', '/orders', 1, undefined],
      ['intercept', 'h', '/orders', 2, 'online'],
    ],
  );
});

test('the hold time passes: fallback to the app after holdMs, published as expired', async (t) => {
  const seen = events(t);
  const i = held({ holdMs: 300 });
  const r = router([i]);
  const request = holdRequest(r, { intercept: i });
  // A rule set that keeps the developer offline does not end the wait.
  r.install({ service: 'orders', version: 2, intercepts: [{ ...i }] });
  const { route, ms } = await request.done;
  assert.deepEqual(route, { kind: 'fallback', intercept: { ...i } });
  assert.ok(ms >= 290 && ms < 2000, `held for about 300 ms, was ${ms}`);
  assert.equal(seen.at(-1)?.hold?.outcome, 'expired');
  assert.ok(seen.at(-1)!.hold!.heldMs >= 290);
});

test('no holdMs on the wire (an older daemon): DEFAULT_HOLD_MS, 10 s', () => {
  const i = intercept({ id: 'h', online: false, onDisconnect: 'hold' });
  const request = holdRequest(router([i]), { intercept: i });
  const leftMs = request.untilMs - Date.now();
  request.cancel();
  assert.ok(leftMs > 9000 && leftMs <= 10_000, `${leftMs}`);
});

test('the intercept is removed while held: fallback at once; its policy changed to fail: the offline answer', async (t) => {
  const seen = events(t);
  const a = held({ id: 'a' });
  const b = held({ id: 'b', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'bob' }] });
  const r = router([a, b]);
  const first = holdRequest(r, { intercept: a });
  const second = holdRequest(r, { intercept: b });
  const failing = { ...b, onDisconnect: 'fail' as const };
  r.install({ service: 'orders', version: 2, intercepts: [failing] });
  assert.deepEqual((await first.done).route, { kind: 'fallback', intercept: a });
  assert.deepEqual((await second.done).route, { kind: 'offline', intercept: failing });
  assert.deepEqual(seen.slice(2).map((e) => [e.interceptId, e.route, e.hold?.outcome]), [
    ['a', 'fallback', 'removed'],
    ['b', 'offline', 'policy-changed'],
  ]);
});

test('a declared body over MAX_HELD_BODY_BYTES does not wait: fallback at once, and the event says why', (t) => {
  const seen = events(t);
  const i = held();
  const r = router([i]);
  assert.deepEqual(r.hold({ method: 'POST', target: '/upload', intercept: i, bodyBytes: MAX_HELD_BODY_BYTES + 1 }, () => assert.fail('resumed')), { kind: 'fallback', intercept: i });
  assert.equal(r.heldCount, 0);
  assert.deepEqual(seen.map((e) => [e.route, e.hold]), [['fallback', { outcome: 'body-over-bound', heldMs: 0 }]]);
  // At the bound it still waits.
  holdRequest(r, { intercept: i, bodyBytes: MAX_HELD_BODY_BYTES }).cancel();
});

test('at most MAX_HELD_REQUESTS wait; the next falls back at once (hold-limit); cancelling frees the places', (t) => {
  const seen = events(t);
  const i = held();
  const r = router([i]);
  const waiting = Array.from({ length: MAX_HELD_REQUESTS }, () => holdRequest(r, { intercept: i }));
  assert.equal(r.heldCount, MAX_HELD_REQUESTS);
  assert.deepEqual(r.hold({ method: 'GET', target: '/', intercept: i, bodyBytes: 0 }, () => assert.fail('resumed')), { kind: 'fallback', intercept: i });
  assert.equal(seen.at(-1)?.hold?.outcome, 'hold-limit');
  for (const request of waiting) request.cancel();
  assert.equal(r.heldCount, 0);
  holdRequest(r, { intercept: i }).cancel();
});

test('the client goes away: cancel ends the wait, with no route and nothing left behind', async (t) => {
  const seen = events(t);
  const i = held();
  const r = router([i]);
  let resumed = false;
  const result = r.hold({ method: 'GET', target: '/', intercept: i, bodyBytes: 0 }, () => (resumed = true));
  assert.ok(!('kind' in result));
  result.cancel();
  result.cancel();
  r.install({ service: 'orders', version: 2, intercepts: [{ ...i, online: true }] });
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(resumed, false);
  assert.equal(r.heldCount, 0);
  assert.deepEqual(seen.map((e) => e.route), ['hold']);
});

test('a late refusal after a wake waits on to the first deadline, not a fresh one', (t) => {
  const seen = events(t);
  const i = held();
  const r = router([i]);
  const untilMs = Date.now() + 1234;
  const again = holdRequest(r, { intercept: i, untilMs });
  assert.equal(again.untilMs, untilMs);
  again.cancel();
  // Its deadline passed already: no wait at all.
  assert.deepEqual(r.hold({ method: 'GET', target: '/', intercept: i, bodyBytes: 0, untilMs: Date.now() - 1 }, () => assert.fail('resumed')), { kind: 'fallback', intercept: i });
  assert.equal(seen.at(-1)?.hold?.outcome, 'expired');
});
