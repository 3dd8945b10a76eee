import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterceptRequest, SessionInfo } from '@detour/protocol';
import { RoutingKeyVerifier } from '@detour/core';
import { RoutingKeyRing, signOwnMatchers } from '../src/routing-keys.js';

const HOUR_MS = 3_600_000;
const session = (id: string, headerValue: string): SessionInfo => ({ id, name: headerValue, clientId: id, headerValue, leaseMs: 15_000, expiresAt: 0, tunnel: 'connected', createdAt: 0 });

test('issue 13: rotation keeps every value handed out verifiable until it expires (the overlap), then drops its key', () => {
  let now = 1_700_000_000_000;
  const ring = new RoutingKeyRing({ valueTtlMs: 10 * HOUR_MS, rotationMs: 4 * HOUR_MS, now: () => now });
  const verifier = new RoutingKeyVerifier({ now: () => now });
  const alice = ring.withSignedValue(session('s1', 'alice-1')).signedValue!;
  assert.equal(alice.expiresAt, Math.floor((now + 10 * HOUR_MS) / 1000) * 1000);
  verifier.setKeys(ring.keys());
  assert.equal(verifier.nameOf(alice.value, true), 'alice-1');
  for (let step = 1; step <= 2; step++) {
    now += 4 * HOUR_MS;
    ring.rotate();
    verifier.setKeys(ring.keys());
    assert.equal(verifier.nameOf(alice.value, true), 'alice-1', `still honoured after rotation ${step}`);
  }
  assert.equal(ring.keys().length, 3);
  // A new value is signed with the newest key, and renewed once half its life is gone.
  const renewed = ring.withSignedValue(session('s1', 'alice-1')).signedValue!;
  assert.notEqual(renewed.value, alice.value);
  assert.equal(renewed.value.split('.').at(-2), ring.keys()[0]!.id);
  assert.equal(ring.withSignedValue(session('s1', 'alice-1')).signedValue!.value, renewed.value);
  // A retired key is kept one value lifetime after it stopped signing (4 h + 10 h), then dropped.
  now += 6 * HOUR_MS - 1;
  assert.ok(ring.keys().some((k) => k.id === alice.value.split('.').at(-2)));
  now += 2;
  ring.rotate();
  verifier.setKeys(ring.keys());
  assert.ok(!ring.keys().some((k) => k.id === alice.value.split('.').at(-2)));
  assert.equal(verifier.nameOf(alice.value, true), undefined);
  assert.equal(verifier.nameOf(renewed.value, true), 'alice-1');
});

test("issue 13: a developer's own exact value becomes a signed matcher; nobody may mark another's", () => {
  const alice = session('s1', 'alice-1');
  const request: InterceptRequest = {
    id: 'i1', name: 'api', service: 'api', paths: [], global: false, onDisconnect: 'fallback', mechanism: 'http', localPort: 3000,
    headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'alice-1' }, { name: 'x-env', op: 'equals', value: 'blue' }],
  };
  assert.deepEqual(signOwnMatchers(request, alice, true).headers, [
    { name: 'x-telepresence-id', op: 'equals', value: 'alice-1', signed: true },
    { name: 'x-env', op: 'equals', value: 'blue' },
  ]);
  assert.equal(signOwnMatchers(request, alice, false), request);
  const stealing: InterceptRequest = { ...request, headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'bob-2', signed: true }] };
  assert.throws(() => signOwnMatchers(stealing, alice, true), { code: 'DETOUR_ERR_INTERCEPT_INVALID_MATCHER', message: /only your own header value \(alice-1\) can be a signed matcher/ });
  assert.throws(() => signOwnMatchers({ ...request, headers: [{ ...request.headers[0]!, signed: true }] }, alice, false), /runs without --signed-keys/);
});
