import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { Environment } from './support/environment.js';
import { rssGrowthDuring } from './support/processes.js';

const BODY_BYTES = 100 * 1024 * 1024;
/** Streaming 100 MB must not grow a process by more than this: nothing may hold a body whole. */
const MAX_RSS_GROWTH_BYTES = 60 * 1024 * 1024;

/** A 100 MB request body made on the fly, 64 KiB at a time. */
function generatedBody(bytes: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      this.push(piece);
    },
  });
}

test('100 MB up and down through the tunnel with bounded agent and daemon memory', { timeout: 180_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  const agentPid = api.agents[0]!.pid!;
  const daemonPid = await alice.daemonPid();
  const { growth } = await rssGrowthDuring([agentPid, daemonPid], async () => {
    const uploaded = await request(`${api.agentUrls[0]}/upload`, { method: 'POST', headers: { [name]: value }, body: generatedBody(BODY_BYTES) });
    assert.deepEqual(await uploaded.body.json(), { app: 'alice-laptop', bytes: BODY_BYTES });
    const downloaded = await request(`${api.agentUrls[0]}/download?bytes=${BODY_BYTES}`, { headers: { [name]: value } });
    let bytes = 0;
    for await (const chunk of downloaded.body) bytes += (chunk as Buffer).length;
    assert.deepEqual({ status: downloaded.statusCode, bytes }, { status: 200, bytes: BODY_BYTES });
  });
  ['agent', 'daemon'].forEach((what, i) => {
    t.diagnostic(`${what}: peak RSS growth ${(growth[i]! / 1048576).toFixed(1)} MiB while streaming 100 MB each way`);
    assert.ok(growth[i]! < MAX_RSS_GROWTH_BYTES, `${what} RSS grew by ${(growth[i]! / 1048576).toFixed(1)} MiB while streaming 100 MB`);
  });
});
