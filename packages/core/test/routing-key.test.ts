import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Intercept, RoutingKey } from '@detour/protocol';
import { ROUTING_MAC_BYTES, RouteTable, RoutingKeyVerifier, signRoutingValue } from '../src/index.js';

const key = (id: string): RoutingKey => ({ id, secret: randomBytes(32).toString('base64url') });
const HOUR_MS = 3_600_000;

function flip(value: string, at: number): string {
  const c = value[at]!;
  return `${value.slice(0, at)}${c === 'A' ? 'B' : 'A'}${value.slice(at + 1)}`;
}

test('issue 13: a signed value verifies to its name; one character changed, a bare name or an unknown key do not', () => {
  let now = 1_000_000_000_000;
  const k1 = key('k1');
  const verifier = new RoutingKeyVerifier({ now: () => now });
  verifier.setKeys([k1]);
  const value = signRoutingValue('alice-3f9c0a', now + HOUR_MS, k1);
  assert.match(value, /^alice-3f9c0a\.\d+\.k1\.[A-Za-z0-9_-]+$/);
  // At least 128 bits of MAC, base64url without padding.
  assert.equal(value.split('.').at(-1)!.length, Math.ceil((ROUTING_MAC_BYTES * 8) / 6));
  assert.ok(ROUTING_MAC_BYTES * 8 >= 128);
  assert.equal(verifier.nameOf(value, true), 'alice-3f9c0a');
  // Every single-character change anywhere in the value is refused (name, expiry, key id and MAC are all signed).
  for (let at = 0; at < value.length; at++) {
    if (value[at] === '.') continue;
    assert.equal(verifier.nameOf(flip(value, at), true), undefined, `changed at ${at}: ${flip(value, at)}`);
  }
  assert.equal(verifier.nameOf('alice-3f9c0a', true), undefined);
  assert.equal(verifier.nameOf(signRoutingValue('alice-3f9c0a', now + HOUR_MS, key('k2')), true), undefined);
  assert.equal(verifier.nameOf(signRoutingValue('alice-3f9c0a', now + HOUR_MS, { id: 'k1', secret: key('x').secret }), true), undefined);
  // A changed expiry digit no longer reads as a signed value at all ('unsigned'); every other change is 'forged'.
  assert.equal(verifier.rejected.unsigned + verifier.rejected.forged, value.length - 3 + 3);
  // Expired: refused from its expiry second on, and counted as such.
  now += HOUR_MS;
  assert.equal(verifier.nameOf(value, true), undefined);
  assert.equal(verifier.rejected.expired, 1);
  // A dotted name still reads right (segments are read from the right).
  now -= HOUR_MS;
  assert.equal(verifier.nameOf(signRoutingValue('team.alice', now + HOUR_MS, k1), true), 'team.alice');
});

test('issue 13: the cache is bounded (least recently used goes first) and a new key set empties it', () => {
  const now = 1_000_000_000_000;
  const k1 = key('k1');
  const verifier = new RoutingKeyVerifier({ now: () => now, maxEntries: 3 });
  verifier.setKeys([k1]);
  const values = ['a', 'b', 'c', 'd'].map((name) => signRoutingValue(name, now + HOUR_MS, k1));
  for (const v of values.slice(0, 3)) verifier.nameOf(v, true);
  verifier.nameOf(values[0]!, true); // a is now the most recent; b the least
  verifier.nameOf(values[3]!, true);
  assert.equal(verifier.cachedValues, 3);
  for (const v of values) assert.ok(verifier.nameOf(v, false) !== undefined);
  assert.equal(verifier.cachedValues, 3);
  // Same keys again: the cache stays; a dropped key: values it signed are refused at once.
  verifier.setKeys([{ ...k1 }]);
  assert.equal(verifier.cachedValues, 3);
  verifier.setKeys([key('k2')]);
  assert.equal(verifier.cachedValues, 0);
  assert.equal(verifier.nameOf(values[0]!, true), undefined);
});

test('issue 13: a signed matcher routes only a valid value of its name, through the hash index', () => {
  const now = Date.now();
  const k1 = key('k1');
  const verifier = new RoutingKeyVerifier();
  verifier.setKeys([k1]);
  const base = { service: 'api', paths: [], global: false, onDisconnect: 'fallback' as const, mechanism: 'http' as const, localPort: 1, createdAt: 1, online: true };
  const intercepts: Intercept[] = Array.from({ length: 1000 }, (_, i) => ({
    ...base,
    id: `dev-${i}`,
    name: `dev-${i}`,
    sequence: i,
    owner: { sessionId: `s${i}`, name: `dev-${i}`, headerValue: `dev-${i}` },
    headers: [{ name: 'x-telepresence-id', op: 'equals' as const, value: `dev-${i}`, signed: true as const }],
  }));
  const table = new RouteTable(intercepts, verifier);
  const ask = (value: string) => table.match({ path: '/', headers: new Map([['x-telepresence-id', [value]]]) })?.id;
  const alice = signRoutingValue('dev-7', now + HOUR_MS, k1);
  assert.equal(ask(alice), 'dev-7');
  assert.equal(ask('dev-7'), undefined);
  assert.equal(ask(flip(alice, alice.length - 3)), undefined);
  assert.equal(ask(signRoutingValue('dev-7', now - 1000, k1)), undefined);
  assert.equal(ask(signRoutingValue('nobody', now + HOUR_MS, k1)), undefined);
  // Without a verifier (compiled outside an agent) a signed matcher matches nothing.
  assert.equal(new RouteTable(intercepts).match({ path: '/', headers: new Map([['x-telepresence-id', [alice]]]) }), undefined);
  assert.deepEqual(verifier.rejected, { unsigned: 1, forged: 1, expired: 1 });
});
