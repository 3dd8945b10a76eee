import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonStatus } from '@detour/daemon/client';
import { Environment, answeredBy } from './support/environment.js';
import { FakeKubeApi } from './support/fake-kube-api.js';
import { makeCertificates } from './support/certificates.js';
import { eventually, runCli } from './support/processes.js';

// `detour connect` through the kubeconfig: the Kubernetes API server is the suite's one
// mock (support/fake-kube-api.ts), speaking the real port-forward WebSocket protocol
// (v4.channel.k8s.io) to client-node; the manager, agents, daemon and apps are real.
const NS = '/api/v1/namespaces/detour';
const POD = 'detour-6f7b9c4d8-k2xpq';
const SELECTOR = { 'app.kubernetes.io/name': 'detour', 'app.kubernetes.io/instance': 'detour', 'app.kubernetes.io/component': 'manager' };

/**
 * The chart's objects as a cluster holds them: the manager Service, its pod, the token Secret (and, with
 * `auth.enabled`, one per identity: `own`). `caBundle`: as with `tls.enabled` and `tls.caBundle`, the api
 * port says `appProtocol: https` and the CA is in the Secret `detour-manager-ca`.
 */
async function chartCluster(t: TestContext, env: Environment, own: Record<string, string> = {}, caBundle?: Buffer): Promise<FakeKubeApi> {
  const kube = await FakeKubeApi.start(env.dir, { namespace: 'detour' });
  t.after(() => kube.close());
  const labels = { ...SELECTOR, 'app.kubernetes.io/part-of': 'detour', 'app.kubernetes.io/managed-by': 'Helm' };
  kube.seed(`${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'detour', labels }, spec: { selector: SELECTOR, ports: [{ name: 'api', port: 8080, targetPort: 'api', appProtocol: caBundle === undefined ? 'http' : 'https' }, { name: 'webhook', port: 443, targetPort: 'webhook' }] } });
  kube.seed(`${NS}/pods`, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: POD, labels },
    spec: { containers: [{ name: 'manager', ports: [{ name: 'api', containerPort: 8080 }, { name: 'webhook', containerPort: 8443 }] }] },
    status: { phase: 'Running', podIP: '10.244.0.9' },
  });
  kube.seed(`${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'detour-token', labels }, type: 'Opaque', data: { token: Buffer.from(await env.token()).toString('base64') } });
  if (caBundle !== undefined) kube.seed(`${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'detour-manager-ca', labels }, type: 'Opaque', data: { 'ca.crt': caBundle.toString('base64') } });
  for (const [name, token] of Object.entries(own)) {
    kube.seed(`${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: `detour-token-${name}`, labels }, type: 'Opaque', data: { token: Buffer.from(token).toString('base64') } });
  }
  kube.forwardPod('detour', POD, Number(new URL(env.managerUrl).port));
  return kube;
}

test('connect through the kubeconfig: port-forward to the manager, token from the Secret; a dropped forward comes back with the intercept live', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const kube = await chartCluster(t, env);
  const laptop = await env.app('alice-laptop');
  const cli = (args: string[]) => runCli(args, { DETOUR_HOME: join(env.dir, 'home-alice'), KUBECONFIG: kube.kubeconfig });
  t.after(() => cli(['quit']));

  const connected = await cli(['connect', '--name', 'alice']);
  assert.equal(connected.code, 0, connected.stderr);
  assert.match(connected.stdout, /^Connected to detour\/detour \(port-forward, context fake\) as alice$/m);
  const status = JSON.parse((await cli(['status', '--output', 'json'])).stdout) as DaemonStatus;
  assert.deepEqual(status.manager.route, { kind: 'port-forward', context: 'fake', namespace: 'detour', service: 'detour', pod: POD });
  assert.match((await cli(['status'])).stdout, /^Manager     : detour\/detour \(v[\d.]+\), port-forward through context fake to pod detour-6f7b9c4d8-k2xpq/m);

  const intercepted = await cli(['intercept', 'api', '--port', new URL(laptop.url).port, '--output', 'json']);
  assert.equal(intercepted.code, 0, intercepted.stderr);
  const { id } = JSON.parse(intercepted.stdout) as { id: string };
  const header = { [status.header.name]: status.header.value };
  assert.equal(await answeredBy(`${api.agentUrls[0]}/x`, header), 'alice-laptop');
  // Outbound calls ride the same port-forward.
  const outbound = await cli(['run', '--', 'curl', '-sS', 'http://api/from-laptop']);
  assert.equal((JSON.parse(outbound.stdout) as { app: string }).app, 'api', outbound.stderr);

  const forwardsBefore = kube.requests.filter((r) => r.method === 'PORTFORWARD' && r.status === 101).length;
  assert.ok(kube.dropPortForwards() > 0, 'the daemon had forwards open');
  await eventually('the intercept to answer again after the drop', async () => ((await answeredBy(`${api.agentUrls[0]}/y`, header)) === 'alice-laptop' && (await env.intercepts('api')).some((i) => i.online) ? true : undefined), 15_000);
  assert.ok(kube.requests.filter((r) => r.method === 'PORTFORWARD' && r.status === 101).length > forwardsBefore, 'new forwards were opened');
  assert.deepEqual((await env.intercepts('api')).map((i) => i.id), [id], 'the same intercept, re-asserted');
});

test('connect through the kubeconfig: no kubeconfig, an unknown context, no manager, an unreadable Secret: one line each, exit 2', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const kube = await chartCluster(t, env);
  const connect = (args: string[], kubeconfig = kube.kubeconfig) => runCli(['connect', '--name', 'bob', ...args], { DETOUR_HOME: join(env.dir, 'home-bob'), KUBECONFIG: kubeconfig });

  const noConfig = await connect([], join(env.dir, 'nowhere'));
  assert.equal(noConfig.code, 2);
  assert.match(noConfig.stderr, /^detour: connect failed: no kubeconfig at .*nowhere; set KUBECONFIG, or log in to the cluster .*, or pass --manager URL\n$/);

  const badContext = await connect(['--context', 'prod']);
  assert.equal(badContext.code, 2);
  assert.equal(badContext.stderr, 'detour: connect failed: the kubeconfig has no context prod (contexts: fake); see `kubectl config get-contexts`\n');

  const noManager = await connect(['--namespace', 'shop']);
  assert.equal(noManager.code, 2);
  assert.match(noManager.stderr, /^detour: connect failed: no detour manager Service in namespace shop \(context fake\); pass --namespace where the chart is installed, or install it \(`helm install detour charts\/detour -n shop`\)\n$/);

  // A CA for a manager that serves plain HTTP (tls.enabled off) is a mistake, not ignored.
  const needlessCa = await connect(['--manager-ca', join(env.dir, 'kubeconfig')]);
  assert.equal(needlessCa.code, 2);
  assert.equal(needlessCa.stderr, 'detour: connect failed: --manager-ca verifies a manager that serves TLS, but the manager Service detour in namespace detour serves plain HTTP (chart tls.enabled is off); drop --manager-ca\n');

  kube.forbid(/\/secrets\/detour-token$/);
  const forbidden = await connect([]);
  assert.equal(forbidden.code, 2);
  assert.equal(forbidden.stderr, 'detour: connect failed: you may not get secrets/detour-token in namespace detour; ask for that permission (check with `kubectl auth can-i get secrets/detour-token -n detour`)\n');
});

test('connect through the kubeconfig with per-user tokens (chart auth.enabled): the daemon reads its own identity\'s Secret, not the agents\' shared one (issue 13)', async (t) => {
  const env = await Environment.create({ identities: [{ name: 'alice', role: 'developer' }, { name: 'edge', role: 'agent' }] });
  t.after(() => env.close());
  await env.service('api');
  const aliceToken = (await readFile(env.tokenFileOf('alice'), 'utf8')).trim();
  // The shared detour-token holds the agents' token (env.token()), which opens no session.
  const kube = await chartCluster(t, env, { alice: aliceToken });
  const cli = (home: string, args: string[]) => runCli(args, { DETOUR_HOME: join(env.dir, home), KUBECONFIG: kube.kubeconfig });
  t.after(() => cli('home-alice', ['quit']));
  const connected = await cli('home-alice', ['connect', '--name', 'alice']);
  assert.equal(connected.code, 0, connected.stderr);
  assert.equal((JSON.parse((await cli('home-alice', ['status', '--output', 'json'])).stdout) as DaemonStatus).name, 'alice');
  // Someone with no Secret of their own gets the shared one, an agent's: refused in one line.
  const bob = await cli('home-bob', ['connect', '--name', 'bob']);
  assert.equal(bob.code, 2);
  assert.match(bob.stderr, /^detour: connect failed: edge \(role agent\) may not open sessions and intercepts/);
});

test('connect through the kubeconfig to a manager serving TLS (chart tls.enabled): https through the port-forward, verified with the CA Secret as detour.detour.svc; a wrong or unreadable CA: one line, exit 2', { timeout: 90_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-e2e-kube-tls-'));
  // The certificate names the Service (what agents dial), as the chart requires; 127.0.0.1 too, for the test's agents.
  // A directory of its own: the fake API server makes its certificates in the environment's.
  const managerCerts = join(dir, 'manager-tls');
  await mkdir(managerCerts, { recursive: true });
  const certs = await makeCertificates(managerCerts, ['detour.detour.svc']);
  const env = await Environment.create({ dir, managerCa: certs.caFile, managerArgs: ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile] });
  t.after(() => env.close());
  const api = await env.service('api');
  const laptop = await env.app('alice-laptop');
  const kube = await chartCluster(t, env, {}, certs.ca);
  const cli = (home: string, args: string[], cluster = kube) => runCli(args, { DETOUR_HOME: join(dir, home), KUBECONFIG: cluster.kubeconfig });
  t.after(() => cli('home-alice', ['quit']));

  const connected = await cli('home-alice', ['connect', '--context', 'fake', '--name', 'alice']);
  assert.equal(connected.code, 0, connected.stderr);
  assert.match(connected.stdout, /^Connected to detour\/detour \(port-forward, context fake\) as alice$/m);
  const status = JSON.parse((await cli('home-alice', ['status', '--output', 'json'])).stdout) as DaemonStatus;
  assert.match(status.manager.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(status.manager.route.kind, 'port-forward');
  assert.ok(kube.requests.some((r) => r.method === 'GET' && r.path === `${NS}/secrets/detour-manager-ca` && r.status === 200), 'the CA came from the chart\'s Secret');
  const intercepted = await cli('home-alice', ['intercept', 'api', '--port', new URL(laptop.url).port]);
  assert.equal(intercepted.code, 0, intercepted.stderr);
  assert.equal(await answeredBy(`${api.agentUrls[0]}/x`, { [status.header.name]: status.header.value }), 'alice-laptop');

  // A Secret holding another CA: the certificate is not trusted; --manager-ca names the right one and overrides it.
  const otherDir = join(dir, 'other-ca');
  await mkdir(otherDir, { recursive: true });
  const other = await makeCertificates(otherDir);
  const wrongCluster = await chartCluster(t, env, {}, other.ca);
  const untrusted = await cli('home-bob', ['connect', '--context', 'fake', '--name', 'bob'], wrongCluster);
  assert.equal(untrusted.code, 2, untrusted.stderr);
  assert.match(untrusted.stderr, /^detour: connect failed: the manager at https:\/\/127\.0\.0\.1:\d+ \(detour\.detour\.svc\) presented a TLS certificate that .*; pass the CA that signed it with --manager-ca FILE\n$/);
  assert.ok(!untrusted.stderr.includes(await env.token()));
  t.after(() => cli('home-bob', ['quit'], wrongCluster));
  const overridden = await cli('home-bob', ['connect', '--context', 'fake', '--name', 'bob', '--manager-ca', certs.caFile], wrongCluster);
  assert.equal(overridden.code, 0, overridden.stderr);

  // A developer who may read the token but not the CA Secret: told which Secret and verb, and the flag that does without it.
  wrongCluster.forbid(/\/secrets\/detour-manager-ca$/);
  const forbidden = await cli('home-carol', ['connect', '--context', 'fake', '--name', 'carol'], wrongCluster);
  assert.equal(forbidden.code, 2, forbidden.stderr);
  assert.equal(forbidden.stderr, "detour: connect failed: you may not get secrets/detour-manager-ca in namespace detour; ask for that permission (check with `kubectl auth can-i get secrets/detour-manager-ca -n detour`), or pass --manager-ca FILE with the CA that signed the manager's certificate\n");

  // A manager whose certificate names 127.0.0.1 but not the Service: the name checked is the Service's, not the forward's address.
  const unnamedDir = await mkdtemp(join(tmpdir(), 'detour-e2e-kube-tls-unnamed-'));
  await mkdir(join(unnamedDir, 'manager-tls'), { recursive: true });
  const unnamedCerts = await makeCertificates(join(unnamedDir, 'manager-tls'));
  const unnamed = await Environment.create({ dir: unnamedDir, managerCa: unnamedCerts.caFile, managerArgs: ['--tls-cert', unnamedCerts.certFile, '--tls-key', unnamedCerts.keyFile] });
  t.after(() => unnamed.close());
  const unnamedCluster = await chartCluster(t, unnamed, {}, unnamedCerts.ca);
  const wrongName = await cli('home-dave', ['connect', '--context', 'fake', '--name', 'dave'], unnamedCluster);
  assert.equal(wrongName.code, 2, wrongName.stderr);
  assert.match(wrongName.stderr, /^detour: connect failed: the manager at https:\/\/127\.0\.0\.1:\d+ \(detour\.detour\.svc\) presented a TLS certificate that does not name this host \(ERR_TLS_CERT_ALTNAME_INVALID\); pass the CA that signed it with --manager-ca FILE, or issue the manager's certificate for detour\.detour\.svc\n$/);
});
