import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PreviewRegistry, newPreviewId, previewIdHash } from '../src/previews/preview-registry.js';

test('preview ids: 32 base32 characters, 160 random bits, never repeated', () => {
  const ids = new Set(Array.from({ length: 1000 }, newPreviewId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^[a-z2-7]{32}$/);
});

test('a preview lives until it expires or its intercept goes; the store keeps only the hash', () => {
  let now = 1_000;
  const intercepts = new Set(['i1', 'i2']);
  let changes = 0;
  const registry = new PreviewRegistry({ now: () => now, interceptExists: (id) => intercepts.has(id), onChanged: () => (changes += 1) });
  const a = registry.create({ id: 'i1' }, { kind: 'service', service: 'web' }, 10_000);
  const b = registry.create({ id: 'i2' }, { kind: 'url', url: 'http://e' }, 60_000);
  assert.equal(changes, 2);
  assert.equal(registry.lookup(a.id!)?.interceptId, 'i1');
  assert.equal(registry.lookup('x'.repeat(32)), undefined);
  now += 10_000;
  assert.equal(registry.lookup(a.id!), undefined, 'expired');
  intercepts.delete('i2');
  assert.equal(registry.lookup(b.id!), undefined, 'revoked with its intercept');
  assert.equal(registry.prune(), 2);
  const c = registry.create({ id: 'i1' }, { kind: 'service', service: 'web' }, 60_000);
  const stored = registry.stored('i1');
  assert.deepEqual(stored, [{ idHash: previewIdHash(c.id!), hint: c.id!.slice(0, 6), entry: { kind: 'service', service: 'web' }, createdAt: now, expiresAt: now + 60_000 }]);
  assert.ok(!JSON.stringify(stored).includes(c.id!));

  const restored = new PreviewRegistry({ now: () => now, interceptExists: () => true });
  restored.restore('i1', stored);
  assert.equal(restored.lookup(c.id!)?.id, undefined, 'a restored preview works for the link, without knowing its id');
  assert.equal(restored.ofIntercepts(new Set(['i1'])).length, 1);
  assert.throws(() => restored.remove('i1', 'zzzzzz'), { code: 'DETOUR_ERR_PREVIEW_NOT_FOUND' });
  restored.remove('i1', c.id!);
  assert.equal(restored.lookup(c.id!), undefined);
});
