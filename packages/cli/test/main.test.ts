// The CLI in-process, the way wrangler tests its own: main(argv) with captured
// stdout and stderr, against real servers on 127.0.0.1 and a real daemon process.
// A user's mistake must end in exactly one line on stderr and exit code 2; a bug
// in exit code 1 with its stack. Help text is compared with snapshot files.
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '@detour/core';
import { startManager } from '@detour/manager';
import { resolveHome } from '@detour/daemon/client';
import { main } from '../src/main.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const out = new Capture();
  const err = new Capture();
  const outcome = await main(argv, { out, err, env }, new AbortController().signal);
  return { code: outcome.code, stdout: out.text, stderr: err.text };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'detour-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Exit 2, nothing on stdout, and exactly one line on stderr that says what was wrong. */
function assertUserMistake(result: Run, says: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^detour: [^\n]+\n$/, 'exactly one line');
  assert.match(result.stderr, says);
}

// Snapshots live next to the sources (tests run from dist/test). After a deliberate
// change to the help, rewrite them with DETOUR_UPDATE_SNAPSHOTS=1.
const SNAPSHOTS = new URL('../../test/snapshots/', import.meta.url);
const UPDATE_SNAPSHOTS = process.env['DETOUR_UPDATE_SNAPSHOTS'] === '1';

async function assertSnapshot(name: string, actual: string): Promise<void> {
  const file = new URL(name, SNAPSHOTS);
  if (UPDATE_SNAPSHOTS) await writeFile(file, actual);
  assert.equal(actual, await readFile(file, 'utf8'), `${name} changed; if on purpose, rerun with DETOUR_UPDATE_SNAPSHOTS=1`);
}

test('--help prints the commands on stdout and exits 0', async () => {
  const result = await run(['--help']);
  assert.equal(result.code, 0);
  assert.equal(result.stderr, '');
  await assertSnapshot('help.txt', result.stdout);
});

test('intercept --help prints its flags on stdout and exits 0', async () => {
  const result = await run(['intercept', '--help']);
  assert.equal(result.code, 0);
  assert.equal(result.stderr, '');
  await assertSnapshot('help-intercept.txt', result.stdout);
});

test('command-line mistakes: one line on stderr, exit 2, nothing started', async (t) => {
  const env = { DETOUR_HOME: await tempDir(t) };
  const cases: Array<[string[], RegExp]> = [
    [['kubectl'], /^detour: unknown command 'kubectl' \(see `detour --help`\)$/m],
    [['intercep', 'api'], /unknown command 'intercep' \(Did you mean intercept\?\)$/m],
    [['list', '--colour'], /unknown option '--colour' \(see `detour list --help`\)$/m],
    [['intercept', 'api'], /required option '--port <port>' not specified/],
    [['intercept', 'api', '--port', 'http'], /argument 'http' is invalid\. expected a whole number from 1 to 65535/],
    [['intercept', 'api', '--port', '0'], /expected a whole number from 1 to 65535/],
    [['manager', '--token-file', 'token', '--port', '70000'], /expected a whole number from 0 to 65535/],
    [['manager', '--token-file', 'token', '--state-file', 's.json', '--state', 'kubernetes', '--namespace', 'dev'], /--state-file and --state kubernetes exclude each other/],
    [['manager', '--token-file', 'token', '--state', 'etcd'], /argument 'etcd' is invalid\. Allowed choices are memory, kubernetes/],
    [['manager', '--token-file', 'token', '--namespace', 'dev'], /--namespace and --kubeconfig apply only with --state kubernetes or --webhook-port/],
    [['manager', '--token-file', 'token', '--state', 'kubernetes', '--namespace', 'dev'], /--state kubernetes needs cluster credentials: run the manager in a pod .* or pass --kubeconfig FILE/],
    [['intercept', 'api', '--port', '8080', '--http-header', 'x-dev'], /bad --http-header "x-dev": use NAME=VALUE, NAME~=REGEX or auto/],
    [['intercept', 'api', '--port', '8080', '--http-header', 'bad name=1'], /"bad name" is not a valid header name/],
    [['intercept', 'api', '--port', '8080', '--http-header', 'x-dev~=('], /invalid header x-dev regex "\(": .*missing closing \)/],
    [['intercept', 'api', '--port', '8080', '--http-path-regex', '/a['], /invalid path regex "\/a\["/],
    [['intercept', 'api', '--port', '8080', '--http-path-prefix', 'api'], /bad path "api": a path starts with "\/"/],
    [['intercept', 'api', '--port', '8080', '--global', '--http-header', 'x=1'], /--global takes all traffic of the service/],
    [['intercept', 'api', '--port', '8080', '--on-disconnect', 'retry'], /^detour: bad --on-disconnect "retry": use fallback, fail, hold or hold=DURATION \(e\.g\. hold=5s, hold=1500ms, hold=2m\)$/m],
    [['intercept', 'api', '--port', '8080', '--on-disconnect', 'hold=5'], /bad --on-disconnect "hold=5": use fallback, fail, hold or hold=DURATION/],
    [['intercept', 'api', '--port', '8080', '--on-disconnect', 'hold=-1s'], /bad --on-disconnect "hold=-1s"/],
    [['intercept', 'api', '--port', '8080', '--on-disconnect', 'hold=50ms'], /bad --on-disconnect "hold=50ms": a hold lasts from 100ms to 10m/],
    [['intercept', 'api', '--port', '8080', '--on-disconnect', 'hold=11m'], /a hold lasts from 100ms to 10m/],
    [['trace', 'api', '--path', 'no-slash'], /bad --path "no-slash": a path starts with "\/"/],
    [['connect', '--manager', 'ftp://x', '--token-file', 't'], /--manager "ftp:\/\/x" must be an http:\/\/ or https:\/\/ URL/],
    [['connect', '--manager', 'http://127.0.0.1:1', '--token-file', join(env.DETOUR_HOME, 'absent')], /cannot read token file .*absent: ENOENT/],
  ];
  for (const [argv, says] of cases) {
    await t.test(argv.join(' '), async () => assertUserMistake(await run(argv, env), says));
  }
});

test('gather-logs -o in a folder that does not exist: one line, exit 2, before asking anyone', async (t) => {
  const dir = await tempDir(t);
  const result = await run(['gather-logs', '-o', join(dir, 'no-such-folder', 'x.tar.gz')], { DETOUR_HOME: dir });
  assertUserMistake(result, /^detour: cannot write -o \S+x\.tar\.gz \(ENOENT\); give a file path in a folder you can write to$/m);
});

test('a corrupt --state-file: the manager does not start, one line names the file, exit 2', async (t) => {
  const dir = await tempDir(t);
  const stateFile = join(dir, 'state.json');
  await writeFile(stateFile, '{"format":"detour-state/1","intercepts":[{');
  await writeFile(join(dir, 'token'), 'a-token-of-enough-characters\n');
  const result = await run(['manager', '--token-file', join(dir, 'token'), '--state-file', stateFile], { DETOUR_HOME: dir });
  assertUserMistake(result, new RegExp(`state file ${stateFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid detour state .*move it away`));
  assert.equal(await readFile(stateFile, 'utf8'), '{"format":"detour-state/1","intercepts":[{', 'left as it was');
});

test('no daemon: a command that needs one says to run detour connect', async (t) => {
  const home = await tempDir(t);
  for (const argv of [['list'], ['leave', 'api'], ['intercept', 'api', '--port', '8080'], ['dashboard', '--no-open']]) {
    assertUserMistake(await run(argv, { DETOUR_HOME: home }), /^detour: not connected: no daemon runs for .*; run `detour connect --manager URL --token-file FILE` first\n$/);
  }
});

test('dashboard: a capture budget that is not a size, or out of range, is one line and exit 2', async (t) => {
  const home = await tempDir(t);
  for (const size of ['lots', '12 parsecs', '10k', '9GiB']) {
    assertUserMistake(await run(['dashboard', '--capture-bytes', size], { DETOUR_HOME: home }), /^detour: bad --capture-bytes .*: give a size from 1MiB to 4GiB, e\.g\. 32MiB\n$/);
  }
  assertUserMistake(await run(['dashboard', '--capture-requests', '0'], { DETOUR_HOME: home }), /--capture-requests/);
});

test('connect with a wrong token, against a real manager: one line and exit 2', async (t) => {
  const dir = await tempDir(t);
  const manager = await startManager({
    host: '127.0.0.1',
    port: 0,
    token: 'the-real-token-of-this-manager',
    leaseMs: 15_000,
    globalAllowed: true,
    logger: createLogger('manager', { level: 'silent' }),
    version: 'test',
  });
  t.after(() => manager.close());
  const wrong = join(dir, 'wrong-token');
  await writeFile(wrong, 'not-the-token-of-this-manager\n');
  // connect spawns a real daemon (the bin); it meets the 401 and reports the code back over IPC.
  const result = await run(['connect', '--manager', manager.url, '--token-file', wrong, '--name', 'eve'], { DETOUR_HOME: join(dir, 'home') });
  assertUserMistake(result, /^detour: connect failed: the bearer token is wrong/);
});

/**
 * Stands in for a daemon of another detour version, which cannot exist in this repository:
 * a real HTTP server on the home's socket that answers every request with `status` and `body`.
 */
async function foreignDaemon(t: TestContext, status: number, body: string): Promise<string> {
  const dir = await tempDir(t);
  const server = http.createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
  server.listen(resolveHome(dir).socketPath);
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return dir;
}

test('a bug (an error code this CLI does not know) prints the stack and exits 1', async (t) => {
  const home = await foreignDaemon(t, 500, JSON.stringify({ error: { code: 'DETOUR_ERR_FROM_THE_FUTURE', message: 'new in v9' } }));
  const result = await run(['list'], { DETOUR_HOME: home });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^detour: internal error, please report it/);
  assert.match(result.stderr, /DetourError: the peer answered with an error code this detour does not know, DETOUR_ERR_FROM_THE_FUTURE: new in v9/);
  assert.match(result.stderr, /\n {4}at .+\n/, 'a stack frame');
  assert.match(result.stderr, /code: 'DETOUR_ERR_INTERNAL_BUG'/);
  assert.match(result.stderr, /peerCode: 'DETOUR_ERR_FROM_THE_FUTURE'/);
});

test('a bug prints the cause it wraps, and exits 1', async (t) => {
  const home = await foreignDaemon(t, 200, '{"services": [');
  const result = await run(['list'], { DETOUR_HOME: home });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /DetourError: daemon answered 200 with a body that is not JSON/);
  assert.match(result.stderr, /\[cause\]: SyntaxError: /);
});

// detour inject: Kubernetes manifests in, injected manifests out (the injection itself is tested in @detour/kube).
const INJECT_FLAGS = ['--agent-image', 'detour:test', '--manager', 'http://detour-manager.detour.svc:8080', '--insecure'];
const DEPLOYMENT = `# the web app
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: shop/web:1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: http}}
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`;
const CONFIG_MAP = `apiVersion: v1
kind: ConfigMap # passes through, comment and all
metadata: {name: c, namespace: shop}
data: {a: b}
`;

test('detour inject -f: YAML documents in, injected YAML out; the Service and unknown kinds pass through', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, [DEPLOYMENT, SERVICE, CONFIG_MAP].join('---\n'));
  const result = await run(['inject', '-f', file, ...INJECT_FLAGS]);
  assert.equal(result.code, 0, result.stderr);
  const { parseAllDocuments } = await import('yaml');
  const docs = parseAllDocuments(result.stdout).map((d) => d.toJS() as { kind: string; spec: { template: { spec: { containers: Array<{ name: string; ports: Array<{ name: string }> }> } } } });
  assert.deepEqual(docs.map((d) => d.kind), ['Deployment', 'Service', 'ConfigMap']);
  const containers = docs[0]!.spec.template.spec.containers;
  assert.deepEqual(containers.map((c) => [c.name, c.ports[0]?.name]), [['app', 'detour-app-http'], ['detour-agent-http', 'http']]);
  assert.ok(result.stdout.includes('kind: ConfigMap # passes through, comment and all'), result.stdout);
  assert.match(result.stderr, /^injected Deployment shop\/web: container app: port http \(8080\) renamed detour-app-http$/m);

  // Its own output again: nothing changes.
  await writeFile(file, result.stdout);
  const again = await run(['inject', '-f', file, ...INJECT_FLAGS]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(parseAllDocuments(again.stdout).map((d) => d.toJS() as unknown), parseAllDocuments(result.stdout).map((d) => d.toJS() as unknown));
  assert.equal(again.stderr, '');
});

test('detour inject -f -: JSON on standard input (a kubectl List) comes out as JSON; --service-file supplies the Services', async (t) => {
  const dir = await tempDir(t);
  const { parse } = await import('yaml');
  const serviceFile = join(dir, 'svc.yaml');
  await writeFile(serviceFile, SERVICE);
  const list = { apiVersion: 'v1', kind: 'List', items: [parse(DEPLOYMENT) as unknown] };
  const { Readable } = await import('node:stream');
  const out = new Capture();
  const err = new Capture();
  const outcome = await main(['inject', '-f', '-', '--service-file', serviceFile, ...INJECT_FLAGS], { in: Readable.from([JSON.stringify(list)]), out, err, env: {} }, new AbortController().signal);
  assert.equal(outcome.code, 0, err.text);
  const printed = JSON.parse(out.text) as { kind: string; items: Array<{ spec: { template: { spec: { containers: unknown[] } } } }> };
  assert.equal(printed.kind, 'List');
  assert.equal(printed.items.length, 1, 'the Service of --service-file is not printed');
  assert.equal(printed.items[0]!.spec.template.spec.containers.length, 2);
});

test('issue 13: detour inject refuses a cleartext manager off loopback without --insecure; with it, or a CA Secret for https, the agents get the flag', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-inject-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'app.yaml');
  await writeFile(file, [DEPLOYMENT, SERVICE].join('---\n'));
  const refused = await run(['inject', '-f', file, '--agent-image', 'detour:test', '--manager', 'http://detour-manager.detour.svc:8080']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /^detour: refusing to send the token in cleartext to http:\/\/detour-manager\.detour\.svc:8080: .*pass --insecure/);
  const insecure = await run(['inject', '-f', file, ...INJECT_FLAGS]);
  assert.equal(insecure.code, 0, insecure.stderr);
  assert.match(insecure.stdout, /- --insecure\n/);
  const https = await run(['inject', '-f', file, '--agent-image', 'detour:test', '--manager', 'https://detour-manager.detour.svc:8700', '--manager-ca-secret', 'detour-manager-ca']);
  assert.equal(https.code, 0, https.stderr);
  assert.match(https.stdout, /- --manager-ca\n\s+- \/var\/run\/secrets\/detour-manager-ca\/ca\.crt\n/);
  assert.match(https.stdout, /secretName: detour-manager-ca/);
  assert.doesNotMatch(https.stdout, /--insecure/);
});

test('detour inject: a workload it cannot inject is named on one line with the reason, exit 2', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, DEPLOYMENT.replace('{name: web, namespace: shop}', '{name: worker, namespace: shop}'));
  const result = await run(['inject', '-f', file, ...INJECT_FLAGS]);
  assert.equal(result.code, 2);
  assert.equal(result.stderr, 'detour: Deployment shop/worker: not injected: no Service selects its labels\n');
  assert.match(result.stdout, /name: worker/, 'printed unchanged');
});

test('detour inject: a file that is not YAML, or is missing, is one line and exit 2', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'kind: [unclosed\n');
  assertUserMistake(await run(['inject', '-f', file, ...INJECT_FLAGS]), /bad\.yaml:\d+:\d+: /);
  await writeFile(file, '- just\n- a list\n');
  assertUserMistake(await run(['inject', '-f', file, ...INJECT_FLAGS]), /not a Kubernetes object/);
  assertUserMistake(await run(['inject', '-f', join(dir, 'missing.yaml'), ...INJECT_FLAGS]), /missing\.yaml: ENOENT/);
  assertUserMistake(await run(['inject', '-f', file]), /required option/);
});

test('detour manager: the injector flags go together', async () => {
  assertUserMistake(await run(['manager', '--token-file', '/nonexistent/t', '--webhook-port', '0']), /--webhook-port needs --webhook-cert, --webhook-key, --agent-image and --agent-manager-url/);
  assertUserMistake(await run(['manager', '--token-file', '/nonexistent/t', '--agent-image', 'x']), /give --webhook-port too/);
  assertUserMistake(await run(['manager', '--token-file', '/nonexistent/t', '--inject-namespace', 'shop']), /give --webhook-port too/);
  // Issue 13: injected agents would refuse a cleartext token off loopback, so the injector does first.
  const cleartext = ['manager', '--token-file', '/nonexistent/t', '--webhook-port', '0', '--webhook-cert', 'c', '--webhook-key', 'k', '--agent-image', 'i', '--agent-manager-url', 'http://m'];
  assertUserMistake(await run(cleartext), /^detour: refusing to send the token in cleartext to http:\/\/m: use an https:\/\/ manager .*or pass --agent-insecure if the network between is trusted\n$/);
  assertUserMistake(await run([...cleartext, '--agent-insecure', '--agent-manager-ca-secret', 'ca']), /--agent-manager-ca-secret verifies an https:\/\/ manager, but --agent-manager-url is http:\/\/m/);
  const injector = [...cleartext, '--agent-insecure'];
  assertUserMistake(await run([...injector, '--agent-resources', '{"requests":{"cpu":"lots"}}']), /--agent-resources .*: requests.cpu is not a quantity like "100m" or "64Mi"/);
  assertUserMistake(await run([...injector, '--agent-resources', 'cpu=10m']), /--agent-resources cpu=10m: not JSON/);
  // Outside a pod and without a kubeconfig, the injector cannot see Services: it says so instead of failing every review.
  assertUserMistake(await run(injector), /--webhook-port needs cluster credentials: run the manager in a pod \(its ServiceAccount\) or pass --kubeconfig FILE/);
});

test('detour uninstall: --service or --all, and credentials, else one line and exit 2', async () => {
  assertUserMistake(await run(['uninstall']), /give --service NAME .* or --all/);
  assertUserMistake(await run(['uninstall', '--service', 'web', '--all']), /give --service NAME .* or --all/);
  assertUserMistake(await run(['uninstall', '--all', '--kubeconfig', '/nonexistent/kubeconfig']), /no cluster credentials .*: pass --kubeconfig FILE or set \$KUBECONFIG/);
});
