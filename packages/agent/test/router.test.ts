import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Intercept } from '@detour/protocol';
import { APP_ROUTE, Router, offlineRoute, routeOf } from '../src/router.js';
import { intercept, routeEvents } from './helpers.js';

// The routing decision on plain data: no socket, no manager. Each branch of
// routeOf/decide is taken once, with the event it publishes.

function router(intercepts: Intercept[]): Router {
  const r = new Router({ service: 'orders', agentId: 'orders-1' });
  r.install({ service: 'orders', version: 7, intercepts });
  return r;
}

const events = routeEvents;

const alice = (value = 'alice'): ReadonlyMap<string, readonly string[]> => new Map([['x-telepresence-id', [value]]]);

test('no rules: every request goes to the app, as the one shared route, and is published', (t) => {
  const seen = events(t);
  const r = new Router({ service: 'orders', agentId: 'orders-1' });
  assert.equal(r.decide('GET', '/x', alice(), true), APP_ROUTE);
  assert.equal(r.decide('GET', '/x', ['x-telepresence-id', 'alice'], false), APP_ROUTE);
  assert.equal(r.decideConnection(true), APP_ROUTE);
  assert.deepEqual(seen[0], { service: 'orders', agentId: 'orders-1', method: 'GET', target: '/x', route: 'app', interceptId: undefined, ruleVersion: -1 });
  assert.equal(seen.length, 3);
});

test('a match whose developer is online, with the relay up: to the developer', (t) => {
  const seen = events(t);
  const i = intercept({ id: 'i1' });
  const r = router([i]);
  assert.deepEqual(r.decide('POST', '/orders?id=1', alice(), true), { kind: 'intercept', intercept: i });
  assert.equal(r.decide('POST', '/orders', alice('bob'), true), APP_ROUTE);
  assert.equal(r.decide('POST', '/orders', undefined, true), APP_ROUTE);
  assert.deepEqual(
    seen.map((e) => [e.route, e.interceptId, e.ruleVersion, e.target]),
    [
      ['intercept', 'i1', 7, '/orders?id=1'],
      ['app', undefined, 7, '/orders'],
      ['app', undefined, 7, '/orders'],
    ],
  );
});

test('a match whose developer is offline: fallback goes to the app, fail gets the offline answer', () => {
  const fallback = intercept({ id: 'fb', online: false, onDisconnect: 'fallback' });
  const fail = intercept({ id: 'fail', online: false, onDisconnect: 'fail', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }] });
  const r = router([fallback, fail]);
  assert.deepEqual(r.decide('GET', '/', alice(), true), { kind: 'fallback', intercept: fallback });
  assert.deepEqual(r.decide('GET', '/', alice('carol'), true), { kind: 'offline', intercept: fail });
});

test('the link to the manager not ready: an online intercept gets its offline policy too', () => {
  const fallback = intercept({ id: 'fb' });
  const fail = intercept({ id: 'fail', onDisconnect: 'fail', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }] });
  const r = router([fallback, fail]);
  assert.deepEqual(r.decide('GET', '/', alice(), false), { kind: 'fallback', intercept: fallback });
  assert.deepEqual(r.decide('GET', '/', alice('carol'), false), { kind: 'offline', intercept: fail });
  assert.deepEqual(routeOf(fail, false), offlineRoute(fail));
  assert.equal(routeOf(undefined, false), APP_ROUTE);
});

test('a late refusal applies the offline policy and publishes the final route as a second event', (t) => {
  const seen = events(t);
  const fallback = intercept({ id: 'fb' });
  const fail = intercept({ id: 'fail', onDisconnect: 'fail' });
  const r = router([fallback]);
  assert.deepEqual(r.refused('GET', '/a', fallback), { kind: 'fallback', intercept: fallback });
  assert.deepEqual(r.refused('GET', '/b', fail), { kind: 'offline', intercept: fail });
  assert.deepEqual(
    seen.map((e) => [e.route, e.interceptId, e.target]),
    [
      ['fallback', 'fb', '/a'],
      ['offline', 'fail', '/b'],
    ],
  );
});

test('raw TCP: routed by the global tcp intercept alone, with the same policy', (t) => {
  const seen = events(t);
  const tcp = intercept({ id: 'db', global: true, mechanism: 'tcp', headers: [], onDisconnect: 'fail' });
  const r = router([tcp]);
  assert.deepEqual(r.decideConnection(true), { kind: 'intercept', intercept: tcp });
  assert.deepEqual(r.decideConnection(false), { kind: 'offline', intercept: tcp });
  assert.deepEqual(
    seen.map((e) => [e.method, e.target, e.route]),
    [
      ['CONNECT', '', 'intercept'],
      ['CONNECT', '', 'offline'],
    ],
  );
});

test('issue 9: HTTP/2 fields sent twice match if any value matches, as on HTTP/1.1', () => {
  const i = intercept({ id: 'i1' });
  const r = router([i]);
  const raw = [':method', 'GET', ':path', '/', 'x-telepresence-id', 'bob', 'x-telepresence-id', 'alice'];
  assert.deepEqual(r.decide('GET', '/', raw, true), { kind: 'intercept', intercept: i });
  // What node's joined `headers` object would have given: one value that matches nobody.
  assert.equal(r.decide('GET', '/', ['x-telepresence-id', 'bob, alice'], true), APP_ROUTE);
});

test('HTTP/2: `:authority` stands in for a missing Host (RFC 9113 §8.3.1), a Host field wins', () => {
  const i = intercept({ id: 'h', headers: [{ name: 'host', op: 'equals', value: 'orders.staging' }] });
  const r = router([i]);
  assert.equal(r.decide('GET', '/', [':authority', 'orders.staging'], true).kind, 'intercept');
  assert.equal(r.decide('GET', '/', [':authority', 'orders.staging', 'host', 'elsewhere'], true), APP_ROUTE);
  assert.equal(r.decide('GET', '/', [':authority', 'elsewhere'], true), APP_ROUTE);
});

test('the observer sees every fresh decision and every late refusal, before the event', (t) => {
  const seen = events(t);
  const observed: string[] = [];
  const r = new Router({ service: 'orders', agentId: 'orders-1' }, {
    routed: (route) => observed.push(`routed:${route.kind}:${seen.length}`),
    refused: (route) => observed.push(`refused:${route.kind}:${seen.length}`),
  });
  const i = intercept({ id: 'i1' });
  r.install({ service: 'orders', version: 1, intercepts: [i] });
  r.decide('GET', '/', alice(), true);
  r.decide('GET', '/', undefined, true);
  r.refused('GET', '/', i);
  r.decideConnection(true);
  assert.deepEqual(observed, ['routed:intercept:0', 'routed:app:1', 'refused:fallback:2', 'routed:app:3']);
});
