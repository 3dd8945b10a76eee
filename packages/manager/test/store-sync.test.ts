import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@detour/core';
import type { InterceptStore, StoredIntercept } from '../src/index.js';
import { StoreSync } from '../src/store/store-sync.js';

/** A store in memory whose saves the test completes or fails one by one. */
class ControlledStore implements InterceptStore {
  readonly description = 'test store';
  readonly saves: Array<{ count: number; settle: (err?: Error) => void }> = [];
  async load(): Promise<StoredIntercept[]> {
    return [];
  }
  save(intercepts: readonly StoredIntercept[]): Promise<void> {
    return new Promise((resolve, reject) => this.saves.push({ count: intercepts.length, settle: (err) => (err === undefined ? resolve() : reject(err)) }));
  }
  async close(): Promise<void> {}
}

const logger = createLogger('test', { level: 'silent' });

/** Polls with a deadline (a retry waits out its backoff, 50–100 ms for the first). */
async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(check(), 'condition reached');
}

test('changes during a save are coalesced into one more save of the latest snapshot', async () => {
  const store = new ControlledStore();
  let size = 0;
  const sync = new StoreSync(store, () => Array.from({ length: size }, () => ({}) as StoredIntercept), logger);
  size = 1;
  sync.changed();
  const first = sync.flush();
  await until(() => store.saves.length === 1);
  size = 2;
  sync.changed();
  size = 3;
  sync.changed();
  const second = sync.flush();
  store.saves[0]!.settle();
  await first;
  await until(() => store.saves.length === 2);
  assert.equal(store.saves[1]!.count, 3, 'the second save writes the latest state');
  store.saves[1]!.settle();
  await second;
  assert.equal(store.saves.length, 2, 'three changes, two saves');
  await sync.flush();
  await sync.close();
});

test('a failed save rejects its waiters with DETOUR_ERR_STATE_WRITE_FAILED and is retried', async () => {
  const store = new ControlledStore();
  const sync = new StoreSync(store, () => [], logger);
  sync.changed();
  const waiting = sync.flush();
  await until(() => store.saves.length === 1);
  store.saves[0]!.settle(new Error('disk full'));
  await assert.rejects(waiting, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'DETOUR_ERR_STATE_WRITE_FAILED');
    assert.match(err.message, /test store: disk full/);
    return true;
  });
  const later = sync.flush();
  await until(() => store.saves.length === 2);
  store.saves[1]!.settle();
  await later;
  await sync.close();
});
