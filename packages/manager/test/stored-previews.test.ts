import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredIntercept } from '../src/store/intercept-store.js';
import { FileInterceptStore } from '../src/store/file-store.js';
import { fromObject, specPart, toObject } from '../src/store/kube-objects.js';

// Issue 12: an intercept's previews travel with it through both stores, as hashes.
const STORED: StoredIntercept = {
  clientHash: 'c'.repeat(64),
  intercept: {
    id: 'i-1',
    name: 'web',
    service: 'web',
    headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'alice' }],
    paths: [],
    global: false,
    onDisconnect: 'fallback',
    mechanism: 'http',
    localPort: 8081,
    owner: { sessionId: 's-1', name: 'alice', headerValue: 'alice' },
    createdAt: 1_767_225_600_000,
    sequence: 3,
    online: false,
  },
  previews: [{ idHash: 'a'.repeat(64), hint: 'k3f9q2', entry: { kind: 'url', url: 'http://web.test' }, createdAt: 1_767_225_600_000, expiresAt: 1_767_312_000_000 }],
};

test('the state file keeps previews and reads them back; files from before previews still load', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-previews-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = new FileInterceptStore(join(dir, 'state.json'));
  await store.save([STORED]);
  assert.deepEqual(await store.load(), [STORED]);
  const older: StoredIntercept = { clientHash: STORED.clientHash, intercept: STORED.intercept };
  await store.save([older]);
  assert.deepEqual(await store.load(), [older]);
});

test('an Intercept object carries the previews in spec.previews, always present so that a merge patch can empty it', () => {
  const object = toObject(STORED, 'detour');
  assert.deepEqual(object.spec.previews, STORED.previews);
  const back = fromObject({ ...object, metadata: { ...object.metadata, creationTimestamp: '2026-01-01T00:00:00Z' } });
  assert.ok('stored' in back);
  assert.deepEqual(back.stored.previews, STORED.previews);
  assert.deepEqual(specPart(toObject({ ...STORED, previews: [] }, 'detour')).spec.previews, []);
  const none = fromObject({ ...toObject({ ...STORED, previews: [] }, 'detour') });
  assert.ok('stored' in none && none.stored.previews === undefined);
});
