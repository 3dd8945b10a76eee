import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { API_PATHS } from '@detour/protocol';
import { Environment } from './support/environment.js';
import { eventually, runCli } from './support/processes.js';
import { freePort } from './support/free-port.js';

// Plain-process mode (issue 11): an agent started with --env-file publishes the
// environment its app runs with, and `detour intercept --env-file` gives it to the
// laptop copy, with no cluster anywhere (KUBECONFIG points at nothing).

const SECRET = 'p4ss "w0rd" $NOT_EXPANDED\nsecond line';
const APP_ENV = `# what the api app runs with
GREETING=hello-from-staging
export DB_URL=postgres://api@db:5432/api
DB_PASSWORD="${SECRET.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$').replace(/\n/g, '\\n')}"
`;

// The laptop command: prints what it was given, as JSON, and exits.
const PRINT_ENV = `console.log(JSON.stringify({ greeting: process.env.GREETING, password: process.env.DB_PASSWORD, intercept: process.env.DETOUR_INTERCEPT_ID }));`;

test('agent --env-file: intercept --env-file OUT -- node app.mjs gets the app environment without a cluster; OUT is 0600; values never appear in logs or lists', async (t) => {
  const env = await Environment.create({ managerEnv: { DETOUR_LOG_LEVEL: 'debug' } });
  t.after(() => env.close());
  const appEnvFile = join(env.dir, 'api.env');
  await writeFile(appEnvFile, APP_ENV);
  const api = await env.app('api');
  const agent = await env.agent('api', api.url, ['--env-file', appEnvFile], 0, { DETOUR_LOG_LEVEL: 'debug' });
  const alice = await env.developer('alice');
  const noCluster = { ...alice.env, KUBECONFIG: join(env.dir, 'no-such-kubeconfig'), HOME: env.dir };
  const printer = join(env.dir, 'print-env.mjs');
  await writeFile(printer, PRINT_ENV);
  const out = join(env.dir, 'laptop.env');
  const outJson = join(env.dir, 'laptop.json');
  // An existing file with loose permissions is restricted before the secrets go in. (It must exist
  // on Node 20 anyway, which itself reads an `--env-file` anywhere on its command line: pod-env.test.ts.)
  await writeFile(out, '', { mode: 0o644 });

  const run = await runCli(['intercept', 'api', '--port', String(await freePort()), '--env-file', out, '--env-json', outJson, '--', process.execPath, printer], noCluster);
  assert.equal(run.code, 0, run.stderr);
  const printed = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { greeting: string; password: string; intercept: string };
  assert.equal(printed.greeting, 'hello-from-staging');
  assert.equal(printed.password, SECRET, 'the command got the value exactly, quotes, $ and line break included');
  assert.notEqual(printed.intercept, '');
  assert.match(run.stderr, /Wrote 3 variables of agent api-\S+ \(published with detour agent --env-file\) to /);

  for (const file of [out, outJson]) assert.equal((await stat(file)).mode & 0o777, 0o600, `${file} is private`);
  // The same writer as the cluster path: what it wrote reads back as the agent's file meant.
  const written = await readFile(out, 'utf8');
  assert.match(written, /^GREETING=hello-from-staging$/m);
  assert.match(written, /^DB_URL=postgres:\/\/api@db:5432\/api$/m);
  assert.deepEqual(JSON.parse(await readFile(outJson, 'utf8')), { GREETING: 'hello-from-staging', DB_URL: 'postgres://api@db:5432/api', DB_PASSWORD: SECRET });
  assert.deepEqual(await env.intercepts('api'), [], 'the intercept ended with its command');

  // Secrets stay secret: not in the service list, the daemon's status, or any log line.
  const token = await env.token();
  const listed = await (await request(`${env.managerUrl}${API_PATHS.services}`, { headers: { authorization: `Bearer ${token}` } })).body.text();
  const status = (await alice.cli(['status', '--output', 'json'])).stdout;
  const daemonLog = await readFile(join(alice.home, 'daemon.log'), 'utf8');
  for (const [where, text] of [['GET /v1/services', listed], ['detour status', status], ['manager log', env.managerStderr()], ['agent log', agent.stderr()], ['daemon log', daemonLog], ['intercept stderr', run.stderr]] as const) {
    assert.ok(!text.includes('p4ss'), `${where} holds no value`);
    assert.ok(!text.includes('hello-from-staging'), `${where} holds no value`);
  }
  assert.match(agent.stderr(), /app environment published to the manager/);
  assert.match(env.managerStderr(), /"variables":3,"msg":"service environment read"/);
});

test('service environment: only a developer session reads it; none published is one line, exit 2; SIGHUP re-reads --env-file; a bad file stops the agent or keeps the last one', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const appEnvFile = join(env.dir, 'api.env');
  await writeFile(appEnvFile, 'TOKEN=top-secret-value\n');
  const api = await env.app('api');
  const agent = await env.agent('api', api.url, ['--env-file', appEnvFile]);
  await env.service('quote');
  const alice = await env.developer('alice');
  const token = await env.token();
  const url = `${env.managerUrl}${API_PATHS.serviceEnvironment('api')}`;

  // The manager token alone (what every agent holds) is not a developer: no session key, no environment.
  const tokenOnly = await request(url, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(tokenOnly.statusCode, 404);
  const refused = (await tokenOnly.body.json()) as { error: { code: string } };
  assert.equal(refused.error.code, 'DETOUR_ERR_SESSION_UNKNOWN');
  const noToken = await request(url);
  assert.equal(noToken.statusCode, 401);
  assert.ok(!(await noToken.body.text()).includes('top-secret-value'));

  // Agents of quote run without --env-file, and there is no kubeconfig: one line naming both ways, exit 2, nothing left behind.
  const noCluster = { ...alice.env, KUBECONFIG: join(env.dir, 'no-such-kubeconfig'), HOME: env.dir };
  const out = join(env.dir, 'quote.env');
  // Node 20 reads an `--env-file` anywhere on its command line and exits 9 when the file is missing (pod-env.test.ts, README).
  await writeFile(out, '');
  const none = await runCli(['intercept', 'quote', '--port', '9', '--env-file', out], noCluster);
  assert.equal(none.code, 2, none.stderr);
  assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
  assert.match(none.stderr, /^detour: no kubeconfig at \S+no-such-kubeconfig; .*; and no agent of quote published its app's environment \(quote-\S+\); start them with `detour agent … --env-file F`/);
  assert.equal(await readFile(out, 'utf8'), '', 'nothing was written');
  assert.deepEqual(await env.intercepts('quote'), []);

  // SIGHUP re-reads the file: the next --env-json has the new value; a broken file then keeps the last good one.
  const readJson = join(env.dir, 'read.json');
  await writeFile(readJson, '');
  const readTokenValue = async () => {
    const r = await runCli(['intercept', 'api', '--port', '9', '--env-json', readJson, '--', process.execPath, '-e', ''], alice.env);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(await readFile(readJson, 'utf8')) as { TOKEN: string }).TOKEN;
  };
  assert.equal(await readTokenValue(), 'top-secret-value');
  await writeFile(appEnvFile, 'TOKEN=rotated-value\n');
  agent.child.kill('SIGHUP');
  await eventually('the re-read environment', async () => ((await readTokenValue()) === 'rotated-value' ? true : undefined), 15_000, 200);
  await writeFile(appEnvFile, 'TOKEN="unclosed\n');
  agent.child.kill('SIGHUP');
  await eventually('the agent to refuse the broken file', async () => (/--env-file not re-read, the last one stays published: .*line 1 \(TOKEN\): the double quote is not closed/.test(agent.stderr()) ? true : undefined));
  assert.equal(await readTokenValue(), 'rotated-value');
  assert.equal(agent.child.exitCode, null, 'the agent runs on');

  // A file that is not .env: the agent does not start, and says where, never what the value was.
  const badFile = join(env.dir, 'bad.env');
  await writeFile(badFile, 'GOOD=1\nPASSWORD="unclosed-secret\n2X=y\n');
  const bad = await runCli(['agent', '--service', 'api', '--listen', '0', '--app', api.url, '--manager', env.managerUrl, '--token-file', env.tokenFile, '--env-file', badFile], {});
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--env-file \S+bad\.env is not a \.env file: line 2 \(PASSWORD\): the double quote is not closed.*; line 3: "2X" is not a variable name/);
  assert.ok(!bad.stderr.includes('unclosed-secret'));
  assert.equal(bad.stderr.trim().split('\n').length, 1);
});
