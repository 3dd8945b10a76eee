import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../src/router.js';
import { BodyCopy, fallthroughPlan, h2FallsThrough } from '../src/fallthrough.js';
import { intercept } from './helpers.js';

// Wiretaps and fall-through on plain data: no socket, no manager.

const tap = (id: string, value: string) => intercept({ id, mode: 'wiretap', headers: [{ name: 'x-telepresence-id', op: 'equals', value }] });

test('wiretaps never route, each one that matches gets the request, and their headers are captured', () => {
  const r = new Router({ service: 'orders', agentId: 'orders-1' });
  // Alice intercepts "alice"; bob and carol both wiretap the same value, dave another one.
  r.install({ service: 'orders', version: 1, intercepts: [intercept({ id: 'alice' }), tap('bob', 'alice'), tap('carol', 'alice'), tap('dave', 'zed')] });
  const asAlice = new Map([['x-telepresence-id', ['alice']]]);
  assert.equal(r.decide('GET', '/x', asAlice, true).intercept?.id, 'alice');
  assert.deepEqual(r.wiretaps?.matching('/x', asAlice)?.map((i) => i.id), ['bob', 'carol']);
  assert.deepEqual(r.wiretaps?.matchingStream('/x', [':path', '/x', 'x-telepresence-id', 'zed'])?.map((i) => i.id), ['dave']);
  assert.equal(r.wiretaps?.matching('/x', undefined), undefined);
  assert.ok(r.capture.size > 0);
  // A wiretap alone takes nothing.
  r.install({ service: 'orders', version: 2, intercepts: [tap('bob', 'alice')] });
  assert.equal(r.decide('GET', '/x', asAlice, true).kind, 'app');
  r.install({ service: 'orders', version: 3, intercepts: [] });
  assert.equal(r.wiretaps, undefined);
});

test('fall-through: listed statuses, gRPC UNIMPLEMENTED as 501 only when trailers-only, and the body bound', () => {
  const plan = fallthroughPlan(intercept({ id: 'a', fallthrough: { statuses: [404, 501], bodyLimitBytes: 4 } }))!;
  assert.equal(h2FallsThrough(plan, { ':status': '404' }, false), true);
  assert.equal(h2FallsThrough(plan, { ':status': '200', 'grpc-status': '12' }, true), true);
  assert.equal(h2FallsThrough(plan, { ':status': '200', 'grpc-status': '12' }, false), false);
  assert.equal(h2FallsThrough(plan, { ':status': '200', 'grpc-status': '3' }, true), false);
  assert.equal(fallthroughPlan(intercept({ id: 'b' })), undefined);
  const copy = new BodyCopy(4);
  copy.add(Buffer.from('ab'));
  copy.add(Buffer.from('cd'));
  assert.equal(copy.body().toString(), 'abcd');
  copy.add(Buffer.from('e'));
  assert.equal(copy.overLimit, true);
});
