import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { extract } from 'tar';
import { request } from 'undici';
import { API_PATHS, RecentLogsSchema, SESSION_KEY_HEADER, SessionCreatedSchema } from '@detour/protocol';
import { Environment } from './support/environment.js';

// Issue 14: `detour gather-logs` writes one archive for a bug report, from real
// processes: a manager, two agents of one service, and a developer's daemon.
// Everything in it is searched for the secrets the test knows.

/** Every file under `dir`, by its path relative to `dir`, with its text. */
async function readTree(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path), await readFile(path, 'utf8'));
  }
  return files;
}

async function unpack(file: string, into: string): Promise<{ root: string; files: Map<string, string> }> {
  await mkdir(into, { recursive: true });
  await extract({ file, cwd: into });
  const [root, ...others] = await readdir(into);
  assert.equal(others.length, 0, 'one folder at the top of the archive');
  assert.match(root!, /^detour-logs-\d{8}T\d{6}Z$/);
  return { root: root!, files: await readTree(join(into, root!)) };
}

test('detour gather-logs: one redacted archive of the daemon, manager and agents', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const web = await env.service('web', 2);
  const alice = await env.developer('alice');
  const [headerName, headerValue] = await alice.interceptHeader('web');
  const token = await env.token();
  const authorization = 'Bearer sk-live-4f9c2e7a1b';
  const cookie = 'sid=c00k1e-v4lue-93';

  // Alice's own request reaches her laptop; another caller's goes to the app. Both carry credentials of their own.
  for (const agentUrl of web.agentUrls) {
    const mine = await request(agentUrl, { headers: { [headerName]: headerValue, authorization, cookie } });
    assert.equal(mine.statusCode, 200);
    assert.match(await mine.body.text(), /alice-laptop/);
    const theirs = await request(`${agentUrl}/other`, { headers: { authorization, cookie } });
    assert.equal(theirs.statusCode, 200);
    await theirs.body.text();
  }

  // A second developer without a daemon: its session key is one the test knows, so it can look for it.
  const opened = await request(`${env.managerUrl}${API_PATHS.sessions}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bob', clientId: 'bob-client-0001', headerValue: 'bob-7e1d0c' }),
  });
  assert.equal(opened.statusCode, 201);
  const { session, key } = SessionCreatedSchema.parse(await opened.body.json());
  const beat = await request(`${env.managerUrl}${API_PATHS.heartbeat(session.id)}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, [SESSION_KEY_HEADER]: key } });
  assert.equal(beat.statusCode, 200);
  await beat.body.text();

  await t.test('GET /v1/logs needs a live session, not only the token', async () => {
    const tokenOnly = await request(`${env.managerUrl}${API_PATHS.logs}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(tokenOnly.statusCode, 404);
    assert.match(await tokenOnly.body.text(), /DETOUR_ERR_SESSION_UNKNOWN/);
    const withSession = await request(`${env.managerUrl}${API_PATHS.logs}`, { headers: { authorization: `Bearer ${token}`, [SESSION_KEY_HEADER]: key } });
    assert.equal(withSession.statusCode, 200);
    const logs = RecentLogsSchema.parse(await withSession.body.json());
    assert.equal(logs.agents.length, 2);
    assert.deepEqual(logs.missing, []);
    assert.match(logs.manager.log, /"msg":"agent connected"/);
  });

  await t.test('the archive holds every part, and none of the secrets', async () => {
    const file = join(env.dir, 'report.tar.gz');
    const result = await alice.cli(['gather-logs', '-o', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^wrote ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`));
    assert.doesNotMatch(result.stdout, /not included/);

    const { root, files } = await unpack(file, join(env.dir, 'unpacked'));
    assert.match(result.stdout, new RegExp(`${root}/manager\\.log`));
    for (const part of ['daemon.log', 'manager.log', 'status.json', 'list.json', 'versions.json', 'manifest.json']) assert.ok(files.has(part), `${part} in ${[...files.keys()].join(', ')}`);
    const agentLogs = [...files.keys()].filter((path) => path.startsWith('agents/'));
    assert.equal(agentLogs.length, 2, 'one log per agent');
    for (const path of agentLogs) assert.match(files.get(path)!, /"msg":"rule set installed"/);
    assert.match(files.get('daemon.log')!, /"msg":"daemon started"/);
    assert.match(files.get('manager.log')!, /"msg":"intercept created"/);

    const versions = JSON.parse(files.get('versions.json')!) as Record<string, unknown>;
    assert.equal(versions['node'], process.version);
    assert.equal(typeof versions['detour'], 'string');
    assert.equal(versions['manager'], versions['detour']);
    // Header names stay, their values go.
    const status = JSON.parse(files.get('status.json')!) as { header: { name: string; value: string }; session: { id: string } };
    assert.deepEqual(status.header, { name: headerName, value: '[redacted]' });
    const list = JSON.parse(files.get('list.json')!) as { services: Array<{ name: string; intercepts: Array<{ headers: Array<{ name: string; value: string }> }> }> };
    assert.deepEqual(list.services.find((s) => s.name === 'web')!.intercepts[0]!.headers, [{ name: headerName, op: 'equals', value: '[redacted]' }]);

    const clientId = (await readFile(join(alice.home, 'client-id'), 'utf8')).trim();
    const everything = [...files.values()].join('\n');
    for (const [what, secret] of [
      ['the token', token],
      ['a session key', key],
      ["alice's header value", headerValue],
      ["bob's header value", 'bob-7e1d0c'],
      ["alice's client id, her header value's seed", clientId],
      ['an authorization value', authorization],
      ['an authorization credential', 'sk-live-4f9c2e7a1b'],
      ['a cookie value', 'c00k1e-v4lue-93'],
    ] as const) {
      assert.ok(!everything.includes(secret), `${what} is in the archive`);
    }
  });

  await t.test('an agent that does not answer is listed as missing, and the command does not hang', async (t) => {
    const stopped = web.agents[0]!;
    const stoppedPort = new URL(web.agentUrls[0]!).port;
    stopped.kill('SIGSTOP');
    t.after(() => stopped.kill('SIGCONT'));
    const file = join(env.dir, 'stopped.tar.gz');
    const startedAt = Date.now();
    const result = await alice.cli(['gather-logs', '-o', file]);
    const tookMs = Date.now() - startedAt;
    assert.equal(result.code, 0, result.stderr);
    // The manager waits 2 s for agents; the rest is process start-up on a loaded machine.
    assert.ok(tookMs < 15_000, `took ${tookMs} ms`);

    const { files } = await unpack(file, join(env.dir, 'unpacked-stopped'));
    const list = JSON.parse(files.get('list.json')!) as { services: Array<{ agents: Array<{ id: string; listen: string }> }> };
    const agents = list.services.flatMap((s) => s.agents);
    const stoppedId = agents.find((a) => a.listen.endsWith(`:${stoppedPort}`))!.id;
    const answeringId = agents.find((a) => a.id !== stoppedId)!.id;
    assert.deepEqual(
      [...files.keys()].filter((path) => path.startsWith('agents/')),
      [`agents/${answeringId}.log`],
    );
    assert.match(result.stdout, new RegExp(`not included:\\n  agent ${stoppedId} \\(web\\) log: no answer within 2000 ms`));
    const manifest = JSON.parse(files.get('manifest.json')!) as { missing: Array<{ part: string; reason: string }> };
    assert.deepEqual(manifest.missing, [{ part: `agent ${stoppedId} (web) log`, reason: 'no answer within 2000 ms' }]);
  });
});

test('detour gather-logs without a daemon writes what this machine has, says what is missing, and exits 0', { timeout: 60_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const alice = await env.developer('alice');
  const quit = await alice.cli(['quit']);
  assert.equal(quit.code, 0, quit.stderr);
  const file = join(env.dir, 'offline.tar.gz');
  const result = await alice.cli(['gather-logs', '-o', file]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /not included:\n {2}status\.json, list\.json, manager and agent logs: no daemon runs for /);
  assert.match(result.stdout, /note: without a running daemon/);
  const { files } = await unpack(file, join(env.dir, 'unpacked'));
  assert.deepEqual([...files.keys()].sort(), ['daemon.log', 'manifest.json', 'versions.json']);
  assert.match(files.get('daemon.log')!, /"msg":"daemon stopped"/);
});
