import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Intercept } from '@detour/protocol';
import { Environment, answeredBy } from './support/environment.js';
import { eventually } from './support/processes.js';

// Issue 10 (Telepresence #4095, intercepts lost on manager restart), outside Kubernetes:
// `--state-file` keeps the intercepts across a kill -9 of the manager.
test('--state-file: after kill -9 and a restart the intercept is listed at once, then routes to its developer again, with no duplicate or conflict', { timeout: 120_000 }, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'detour-state-e2e-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const stateFile = join(stateDir, 'state.json');
  const env = await Environment.create({ managerArgs: ['--state-file', stateFile] });
  t.after(() => env.close());
  const api = await env.service('api');
  const agentUrl = api.agentUrls[0]!;
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  const created = (await env.intercepts('api'))[0]!;
  assert.equal(await answeredBy(agentUrl, { [name]: value }), 'alice-laptop');
  // `detour intercept` returned only once the file held it.
  const onDisk = JSON.parse(await readFile(stateFile, 'utf8')) as { intercepts: Array<{ intercept: Intercept; clientHash: string }> };
  assert.deepEqual(onDisk.intercepts.map((s) => s.intercept.id), [created.id]);
  assert.ok(!(await readFile(stateFile, 'utf8')).includes(alice.home), 'the file holds no daemon home path');

  // The daemon is frozen so that it cannot re-assert: what the restarted manager shows comes from the file.
  const daemonPid = await alice.daemonPid();
  await env.stopManager('SIGKILL');
  process.kill(daemonPid, 'SIGSTOP');
  let resumed = false;
  t.after(() => {
    if (!resumed) process.kill(daemonPid, 'SIGCONT');
  });
  await env.startManager();
  const restored = await env.intercepts('api');
  assert.deepEqual(
    restored.map((i) => ({ id: i.id, name: i.name, owner: i.owner.name, online: i.online })),
    [{ id: created.id, name: created.name, owner: 'alice', online: false }],
    'listed right after the restart, offline until its daemon is back',
  );
  // Offline with the default onDisconnect (fallback): the shared app answers meanwhile.
  await eventually('the agent follows the restored (offline) rules', async () => ((await answeredBy(agentUrl, { [name]: value })) === 'api' ? true : undefined));

  process.kill(daemonPid, 'SIGCONT');
  resumed = true;
  await eventually('the developer gets the traffic again', async () => ((await answeredBy(agentUrl, { [name]: value })) === 'alice-laptop' ? true : undefined), 30_000, 100);
  const after = await env.intercepts('api');
  assert.equal(after.length, 1, 'no duplicate');
  assert.equal(after[0]!.id, created.id);
  assert.equal(after[0]!.online, true);
  assert.equal(after[0]!.createdAt, created.createdAt, 'the same intercept, not a new one');
  assert.equal(await answeredBy(agentUrl), 'api', 'unmatched traffic still reaches the shared app');
  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { intercepts: Array<{ error?: string }> };
  assert.deepEqual(status.intercepts.map((i) => i.error), [undefined], 'the re-assertion met no conflict');
});
