import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Environment } from './support/environment.js';
import type { Developer } from './support/environment.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { REPO_ROOT, runCli } from './support/processes.js';

// `intercept --env-file` reads the pod's environment through the kubeconfig; the
// Kubernetes API here is the suite's one mock (support/fake-kube-api.ts), serving
// the recorded pod, ConfigMap and Secret objects the kube unit test validates.
const NAMESPACE = '/api/v1/namespaces/shop';
const recorded = async (name: string) => JSON.parse(await readFile(`${REPO_ROOT}packages/kube/test/recorded/${name}.json`, 'utf8')) as Parameters<FakeKubeApi['seed']>[1];

/** A manager with a `quote` service, a connected developer, and the cluster's objects for `quote`. */
async function setUp(t: TestContext): Promise<{ env: Environment; kube: FakeKubeApi; alice: Developer }> {
  const env = await Environment.create();
  t.after(() => env.close());
  await env.service('quote');
  const kube = await cluster(env.dir);
  t.after(() => kube.close());
  return { env, kube, alice: await env.developer('alice') };
}

async function cluster(dir: string): Promise<FakeKubeApi> {
  const kube = await FakeKubeApi.start(dir, { namespace: 'shop' });
  kube.seed(`${NAMESPACE}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'quote', namespace: 'shop' }, spec: { selector: { app: 'quote' }, ports: [{ port: 80, targetPort: 8080 }] } });
  kube.seed(`${NAMESPACE}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'other-1', labels: { app: 'other' } }, spec: { containers: [{ name: 'other', env: [{ name: 'WRONG', value: '1' }] }] }, status: { phase: 'Running' } });
  kube.seed(`${NAMESPACE}/pods`, await recorded('quote-pod'));
  kube.seed(`${NAMESPACE}/configmaps`, await recorded('quote-config'));
  kube.seed(`${NAMESPACE}/secrets`, await recorded('quote-secrets'));
  return kube;
}

test('intercept --env-file/--env-json: the app container\'s env, envFrom ConfigMaps and Secrets and downward-API fields; -- COMMAND gets them', async (t) => {
  const { env, kube, alice } = await setUp(t);
  const envFile = join(env.dir, 'quote.env');
  const envJson = join(env.dir, 'quote.json');
  const printer = join(env.dir, 'print.mjs');
  await writeFile(printer, 'console.log(JSON.stringify({ db: process.env.DB_PASSWORD, url: process.env.PRICING_URL, pod: process.env.POD_NAME }));');

  // Node 20 itself reads an `--env-file` anywhere on its command line and exits 9 if the file is missing
  // (a Node bug, fixed in Node 22): on Node 20 the file must exist before detour runs. README says so.
  await writeFile(envFile, '');
  const run = await runCli(['intercept', 'quote', '--port', String(alice.localPort), '--env-file', envFile, '--env-json', envJson, '--', process.execPath, printer], { ...alice.env, KUBECONFIG: kube.kubeconfig });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /Wrote 14 variables of shop\/quote-7d9f8c6b5-x2x7q \(container quote\) to .*quote\.env and .*quote\.json/);
  assert.match(run.stderr, /not set: CPU_LIMIT: resource field limits\.cpu/);
  assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').at(-1)!), { db: 's3cr3t$ with space', url: 'http://pricing.shop.svc.cluster.local:8081/v2', pod: 'quote-7d9f8c6b5-x2x7q' });

  const dotenv = await readFile(envFile, 'utf8');
  assert.match(dotenv, /^PRICING_PORT=8081$/m);
  assert.match(dotenv, /^DB_PASSWORD="s3cr3t\\\$ with space"$/m);
  assert.match(dotenv, /^CACHE_URL=redis:\/\/localhost:6379$/m, 'a localhost value stays as it is');
  assert.doesNotMatch(dotenv, /WRONG/, "another workload's pod is not read");
  assert.equal((await stat(envFile)).mode & 0o777, 0o600, 'Secrets are written for the owner only');
  const json = JSON.parse(await readFile(envJson, 'utf8')) as Record<string, string>;
  assert.equal(json['SECRET_API_KEY'], 'k-123');
  assert.equal(json['POD_IP'], '10.244.1.17');
  assert.equal(json['FEATURE_FLAGS'], '{"fast": true, "note": "a \\"quoted\\" word"}');
});

test('intercept --env-file: a Secret you may not read, a missing Service, no kubeconfig, an unknown context: one line each, exit 2, no intercept', async (t) => {
  const { env, kube, alice } = await setUp(t);
  kube.forbid(/\/secrets\/quote-secrets$/);
  const forbidden = await runWith(alice, kube.kubeconfig, []);
  assert.equal(forbidden.code, 2, forbidden.stderr);
  assert.equal(forbidden.stderr, 'detour: you may not get secrets/quote-secrets in namespace shop; ask for that permission (check with `kubectl auth can-i get secrets/quote-secrets -n shop`)\n');

  const missing = await runWith(alice, kube.kubeconfig, ['--namespace', 'elsewhere']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^detour: there is no services\/quote in namespace elsewhere \(context fake\); pass --namespace/);

  const noConfig = await runWith(alice, join(env.dir, 'absent-kubeconfig'), []);
  assert.equal(noConfig.code, 2);
  assert.match(noConfig.stderr, /^detour: no kubeconfig at .*absent-kubeconfig; set KUBECONFIG/);

  const badContext = await runWith(alice, kube.kubeconfig, ['--context', 'prod']);
  assert.equal(badContext.code, 2);
  assert.equal(badContext.stderr, 'detour: the kubeconfig has no context prod (contexts: fake); see `kubectl config get-contexts`\n');
  assert.deepEqual(await env.intercepts('quote'), [], 'nothing was created');
});

function runWith(alice: Developer, kubeconfig: string, extra: string[]) {
  return runCli(['intercept', 'quote', '--port', String(alice.localPort), '--env-file', '/dev/null', ...extra], { ...alice.env, KUBECONFIG: kubeconfig });
}
