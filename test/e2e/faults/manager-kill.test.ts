import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { Environment } from '../support/environment.js';
import { eventually } from '../support/processes.js';
import { Load, report, scale } from './support.js';

const CHUNK = Buffer.alloc(64 * 1024, 0x62);

/** A body of `total` bytes made as it is read; `sent()` says how far the reader got. */
function countedBody(total: number): { body: Readable; sent: () => number } {
  let produced = 0;
  const body = new Readable({
    read() {
      if (produced >= total) return void this.push(null);
      const piece = total - produced >= CHUNK.length ? CHUNK : CHUNK.subarray(0, total - produced);
      produced += piece.length;
      this.push(piece);
    },
  });
  return { body, sent: () => produced };
}

// Issue 14 (Telepresence #4095: intercepts lost on manager restart): the manager
// dies mid-upload; the traffic nobody intercepts must not notice, the upload must
// end rather than hang, and the intercept must come back by itself.
test('fault: kill -9 of the manager during a matched upload and unmatched load', { timeout: 300_000 }, async (t) => {
  const uploadBytes = scale(256 * 2 ** 20, 2 ** 30);
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  const agentUrl = api.agentUrls[0]!;
  const unmatched = new Load(t, agentUrl, { connections: 8, expectApp: 'api', maxDurationMs: 240_000 });

  const { body, sent } = countedBody(uploadBytes);
  const upload = request(`${agentUrl}/upload`, { method: 'POST', headers: { [name]: value }, body }).then(
    async (r) => ({ status: r.statusCode, text: await r.body.text() }),
    (err: Error) => ({ error: err.message }),
  );
  // Kill once a tenth of the body is on its way, so the upload is truly in flight.
  await eventually('the upload is under way', async () => (sent() >= uploadBytes / 10 ? true : undefined), 60_000);
  const sentAtKill = sent();
  await env.stopManager('SIGKILL');
  const killedAt = Date.now();
  const raced = await Promise.race([upload, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 30_000).unref())]);
  const uploadEndedMs = Date.now() - killedAt;
  assert.ok(raced !== undefined, 'the upload ended within 30 s of the kill');
  const outcome = raced;
  assert.ok(!('status' in outcome && outcome.status === 200), `the upload did not pretend to succeed: ${JSON.stringify(outcome)}`);

  await env.startManager();
  const back = await eventually('the intercept is back without user action', async () => {
    const r = await request(`${agentUrl}/anything`, { headers: { [name]: value } });
    const got = (await r.body.json()) as { app?: string };
    return got.app === 'alice-laptop' ? Date.now() - killedAt : undefined;
  }, 30_000, 100);
  const load = await unmatched.stop();
  report(t, {
    upload_mib: uploadBytes / 2 ** 20,
    sent_at_kill_mib: sentAtKill / 2 ** 20,
    upload_ended_after_ms: uploadEndedMs,
    upload_outcome: 'error' in outcome ? 'error' : `status ${outcome.status}`,
    intercept_back_after_ms: back,
    unmatched_requests: load.requests,
    unmatched_failed: load.failed,
    unmatched_misrouted: load.misrouted,
  });
  assert.deepEqual({ failed: load.failed, misrouted: load.misrouted }, { failed: 0, misrouted: 0 }, load.samples.join('; '));
});
