// The container image's contents, without a container engine (there is none here or in CI):
// runs the Dockerfile's own install step, scripts/image-install.mjs (the Dockerfile COPYs and
// RUNs that same file, so the two cannot drift), on this built checkout, then starts
// `detour manager` and `detour agent` from the result the way the image's ENTRYPOINT does
// (the bin file itself, through its shebang) and checks that both answer.
//
// When the test runs as root (CI does), the processes run as the image's user, UID 10001,
// which has no passwd entry here (like an arbitrary UID a cluster assigns), over an install
// tree owned by root: a write anywhere but the one writable folder (the chart's /tmp emptyDir)
// fails, and the test then checks that manager and agent wrote nothing there either.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { API_PATHS } from '@detour/protocol';
import { ECHO_APP, REPO_ROOT, eventually, startProcess, stopProcess } from './support/processes.js';
import type { Launcher } from './support/processes.js';

const IMAGE_UID = 10001;
const DOCKERFILE = join(REPO_ROOT, 'Dockerfile');
const INSTALL_SCRIPT = 'scripts/image-install.mjs';

test('the Dockerfile runs scripts/image-install.mjs and starts the detour bin as UID 10001', async () => {
  const dockerfile = await readFile(DOCKERFILE, 'utf8');
  assert.match(dockerfile, new RegExp(`^RUN .*node ${INSTALL_SCRIPT.replace('.', '\\.')} /src /app$`, 'm'));
  assert.match(dockerfile, /^COPY --from=build \/app \/app$/m);
  assert.match(dockerfile, /^RUN ln -s \/app\/packages\/cli\/bin\/detour\.js \/usr\/local\/bin\/detour$/m);
  assert.match(dockerfile, /^ENTRYPOINT \["detour"\]$/m);
  assert.match(dockerfile, new RegExp(`^USER ${IMAGE_UID}:${IMAGE_UID}$`, 'm'));
  assert.doesNotMatch(dockerfile, /^HEALTHCHECK/m);
});

test('the image install step gives a tree from which detour manager and detour agent run', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'detour-image-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  // mkdtemp makes a 0700 folder; the image user must be able to reach /app inside it.
  await chmod(work, 0o755);
  const app = join(work, 'app');

  // The same command the Dockerfile RUNs, with /src = this checkout and /app = a temp folder.
  // npm may take the packages from its cache; what it installs is fixed by the lockfile.
  const install = spawnSync(process.execPath, [join(REPO_ROOT, INSTALL_SCRIPT), REPO_ROOT, app], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, npm_config_prefer_offline: 'true' } });
  assert.equal(install.status, 0, `image install failed:\n${install.stdout}\n${install.stderr}`);

  // Only run-time files: no test, source or dev tooling.
  const installed = await readdir(join(app, 'node_modules'));
  // (`ws` is not in the list: @kubernetes/client-node needs it at run time for watches.)
  for (const devOnly of ['typescript', 'eslint', 'madge', 'kubernetes-models', '@grpc', 'adm-zip', '@aws-cdk', 'playwright-core']) {
    assert.ok(!installed.includes(devOnly), `${devOnly} is a dev or test dependency but was installed`);
  }
  // Some @types are run-time dependencies of @kubernetes/client-node; ours (tests' and tools') must not be there.
  const types = await readdir(join(app, 'node_modules', '@types')).catch(() => [] as string[]);
  for (const devOnly of ['ws', 'adm-zip']) assert.ok(!types.includes(devOnly), `@types/${devOnly} is a test dependency but was installed`);
  assert.deepEqual(await readdir(join(app, 'packages', 'cli', 'dist')), ['src']);
  // The dashboard's page is served as it is, beside its compiled views.
  assert.deepEqual((await readdir(join(app, 'packages', 'dashboard-ui', 'static'))).sort(), ['index.html', 'logo.svg', 'style.css']);
  await assert.rejects(readdir(join(app, 'test')), { code: 'ENOENT' });

  // The chart's writable /tmp emptyDir; HOME and DETOUR_HOME point there as the image's ENV does.
  const writable = join(work, 'tmp');
  await mkdir(writable);
  const asImageUser = process.getuid?.() === 0;
  if (asImageUser) await chown(writable, IMAGE_UID, IMAGE_UID);
  const env = { HOME: writable, DETOUR_HOME: join(writable, 'detour'), NODE_ENV: 'production', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  // The token as the chart mounts it: an existing file the user can read, never written.
  const tokenFile = join(work, 'token');
  const token = 'image-test-token';
  await writeFile(tokenFile, `${token}\n`, { mode: 0o644 });

  const bin = join(app, 'packages', 'cli', 'bin', 'detour.js');
  const entrypoint: Launcher = asImageUser ? ['setpriv', `--reuid=${IMAGE_UID}`, `--regid=${IMAGE_UID}`, '--clear-groups', bin] : [bin];
  const manager = await startProcess(['manager', '--host', '127.0.0.1', '--port', '0', '--token-file', tokenFile], /manager listening on (http:\/\/\S+)/, env, 20_000, entrypoint);
  t.after(() => stopProcess(manager.child));
  const info = await fetch(new URL(API_PATHS.info, manager.value), { headers: { authorization: `Bearer ${token}` } });
  assert.equal(info.status, 200, manager.stderr());
  assert.equal(typeof ((await info.json()) as { version: unknown }).version, 'string');
  const anonymous = await fetch(new URL(API_PATHS.info, manager.value));
  assert.equal(anonymous.status, 401);

  const echo = await startProcess([ECHO_APP, '--name', 'api'], /listening on (http:\/\/\S+)/);
  t.after(() => stopProcess(echo.child));
  const agent = await startProcess(['agent', '--service', 'api', '--listen', '0', '--app', echo.value, '--manager', manager.value, '--token-file', tokenFile], /agent api listening on (http:\/\/\S+)/, env, 20_000, entrypoint);
  t.after(() => stopProcess(agent.child));
  const answer = await fetch(new URL('/anything', agent.value));
  assert.equal(answer.status, 200, agent.stderr());
  assert.equal(((await answer.json()) as { app: string }).app, 'api');
  // The agent reached the manager too: it is listed under its service.
  await eventually('the agent registered with the manager', async () => {
    const services = (await (await fetch(new URL(API_PATHS.services, manager.value), { headers: { authorization: `Bearer ${token}` } })).json()) as { services: { name: string; agents: unknown[] }[] };
    return services.services.find((s) => s.name === 'api' && s.agents.length === 1);
  });

  assert.deepEqual(await readdir(writable), [], 'manager and agent wrote into their only writable folder');
});
