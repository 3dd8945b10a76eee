import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { Environment } from './support/environment.js';
import { rssBytes } from './support/processes.js';

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

/** Samples a process's RSS every 50 ms while `work` runs; returns the peak. */
async function peakRssDuring<T>(pids: number[], work: () => Promise<T>): Promise<{ result: T; peaks: number[] }> {
  const peaks = pids.map((pid) => rssBytes(pid));
  const timer = setInterval(() => pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i]!, rssBytes(pid)))), 50);
  try {
    return { result: await work(), peaks };
  } finally {
    clearInterval(timer);
  }
}

test('100 MB up and down through the tunnel with bounded agent and daemon memory', { timeout: 180_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const [name, value] = (await alice.intercept('api')).header!.split('=') as [string, string];
  const agentPid = api.agents[0]!.pid!;
  const daemonPid = await alice.daemonPid();
  const before = [rssBytes(agentPid), rssBytes(daemonPid)];

  const { result: uploaded, peaks: uploadPeaks } = await peakRssDuring([agentPid, daemonPid], async () => {
    const response = await request(`${api.agentUrls[0]}/upload`, { method: 'POST', headers: { [name]: value }, body: generatedBody(BODY_BYTES) });
    return (await response.body.json()) as { app: string; bytes: number };
  });
  assert.deepEqual(uploaded, { app: 'alice-laptop', bytes: BODY_BYTES });

  const { result: downloaded, peaks: downloadPeaks } = await peakRssDuring([agentPid, daemonPid], async () => {
    const response = await request(`${api.agentUrls[0]}/download?bytes=${BODY_BYTES}`, { headers: { [name]: value } });
    let bytes = 0;
    for await (const chunk of response.body) bytes += (chunk as Buffer).length;
    return { status: response.statusCode, bytes };
  });
  assert.deepEqual(downloaded, { status: 200, bytes: BODY_BYTES });

  ['agent', 'daemon'].forEach((what, i) => {
    const growth = Math.max(uploadPeaks[i]!, downloadPeaks[i]!) - before[i]!;
    t.diagnostic(`${what}: RSS ${(before[i]! / 1048576).toFixed(1)} MiB before, peak growth ${(growth / 1048576).toFixed(1)} MiB`);
    assert.ok(growth < MAX_RSS_GROWTH_BYTES, `${what} RSS grew by ${(growth / 1048576).toFixed(1)} MiB while streaming 100 MB`);
  });
});
