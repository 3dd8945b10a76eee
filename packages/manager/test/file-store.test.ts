import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Intercept } from '@detour/protocol';
import { FileInterceptStore } from '../src/index.js';
import type { StoredIntercept } from '../src/index.js';

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'detour-state-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function stored(id: string, online = true): StoredIntercept {
  const intercept: Intercept = {
    id,
    name: id,
    service: 'api',
    headers: [{ name: 'x-dev', op: 'equals', value: id }],
    paths: [],
    global: false,
    onDisconnect: 'fallback',
    mechanism: 'http',
    localPort: 9000,
    owner: { sessionId: 's-1', name: 'alice', headerValue: 'alice-1' },
    createdAt: 1_700_000_000_000,
    sequence: 1,
    online,
  };
  return { intercept, clientHash: 'a'.repeat(64) };
}

test('a missing state file is an empty state, and a saved one reads back the same', async (t) => {
  const dir = await tempDir(t);
  const store = new FileInterceptStore(join(dir, 'nested', 'state.json'));
  assert.deepEqual(await store.load(), []);
  await store.save([stored('a'), stored('b', false)]);
  assert.deepEqual(await new FileInterceptStore(store.path).load(), [stored('a'), stored('b', false)]);
  await store.save([stored('b', false)]);
  assert.deepEqual(await new FileInterceptStore(store.path).load(), [stored('b', false)]);
});

test('a crash between writing and renaming leaves the old file whole', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  await new FileInterceptStore(path).save([stored('old')]);
  const before = await readFile(path, 'utf8');
  const crashing = new FileInterceptStore(path, {
    rename: async () => {
      throw Object.assign(new Error('simulated crash before rename'), { code: 'EIO' });
    },
  });
  await assert.rejects(crashing.save([stored('new-1'), stored('new-2')]), /simulated crash/);
  assert.equal(await readFile(path, 'utf8'), before, 'the file is untouched');
  assert.deepEqual(await readdir(dir), ['state.json'], 'the failed save left no temporary file');
  assert.deepEqual(await new FileInterceptStore(path).load(), [stored('old')]);
});

test('temporary files of an interrupted save are removed at start-up, and the state is the last complete one', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  await new FileInterceptStore(path).save([stored('kept')]);
  // What a kill -9 after the write and before the rename leaves behind.
  await writeFile(join(dir, '.state.json.0123456789ab.tmp'), '{"format":"detour-state/1","intercepts":[');
  assert.deepEqual(await new FileInterceptStore(path).load(), [stored('kept')]);
  assert.deepEqual(await readdir(dir), ['state.json']);
});

test('a corrupt state file stops the start-up with an error naming the file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  for (const [content, problem] of [
    ['{"format":"detour-state/1","intercepts":[', /Unexpected end|JSON/],
    ['{"format":"detour-state/9","intercepts":[]}', /format/],
    [JSON.stringify({ format: 'detour-state/1', intercepts: [{ ...stored('x'), clientHash: 'nope' }] }), /intercepts\.0\.clientHash/],
  ] as const) {
    await writeFile(path, content);
    await assert.rejects(new FileInterceptStore(path).load(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DETOUR_ERR_STATE_FILE_CORRUPT');
      assert.ok(err.message.includes(path), err.message);
      assert.match(err.message, problem);
      return true;
    });
    assert.equal(await readFile(path, 'utf8'), content, 'a corrupt file is never overwritten by loading it');
  }
});
