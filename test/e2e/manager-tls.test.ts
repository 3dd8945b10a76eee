// Issue 13, TLS on every link: a manager serving HTTPS with a certificate from a CA made at
// test time (openssl), agents and daemons that verify it, a wrong CA refused, mTLS agents,
// and a token that never goes over cleartext off this machine unless --insecure says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Environment, answeredBy, answeredViaPreview } from './support/environment.js';
import { makeCertificates, makeClientCertificate } from './support/certificates.js';
import { DETOUR_BIN, eventually, runCli, startProcess, stopProcess } from './support/processes.js';

async function tlsEnvironment(extraManagerArgs: string[] = []) {
  const dir = await mkdtemp(join(tmpdir(), 'detour-e2e-tls-'));
  const certs = await makeCertificates(dir);
  const env = await Environment.create({ dir, managerCa: certs.caFile, managerArgs: ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile, ...extraManagerArgs] });
  return { env, certs, dir };
}

/** A second, unrelated CA: what a client given the wrong --manager-ca trusts. */
async function otherCa(dir: string): Promise<string> {
  const other = join(dir, 'other-ca');
  await mkdir(other, { recursive: true });
  return (await makeCertificates(other)).caFile;
}

test('issue 13: an https manager; agent and daemon verify it with --manager-ca and route through it', { timeout: 90_000 }, async (t) => {
  const { env, dir } = await tlsEnvironment(['--preview-listen', '0']);
  t.after(() => env.close());
  assert.match(env.managerUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
  const { appUrl, agentUrls } = await env.service('api');
  const alice = await env.developer('alice');
  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { manager: { url: string }; connection: { state: string } };
  assert.deepEqual([status.manager.url, status.connection.state], [env.managerUrl, 'ready']);
  const [name, value] = await alice.interceptHeader('api');
  assert.equal(await answeredBy(agentUrls[0]!, { [name]: value }), 'alice-laptop');
  assert.equal(await answeredBy(agentUrls[0]!), 'api');

  await t.test('a preview URL works through the in-process gateway, which dials the https manager', async () => {
    const created = await alice.cli(['preview', 'create', 'api', '--output', 'json']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(await answeredViaPreview((JSON.parse(created.stdout) as { url: string }).url), 'alice-laptop');
  });

  await t.test('a daemon given the wrong CA, or none (system CAs), is refused with one line naming --manager-ca (exit 2)', async () => {
    const wrong = await otherCa(dir);
    for (const [home, caArgs] of [['home-wrong-ca', ['--manager-ca', wrong]], ['home-no-ca', []]] as const) {
      const result = await runCli(['connect', '--manager', env.managerUrl, '--token-file', env.tokenFile, '--name', 'mallory', ...caArgs], { DETOUR_HOME: join(dir, home) });
      assert.equal(result.code, 2, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /^detour: connect failed: the manager at https:\/\/127\.0\.0\.1:\d+ presented a TLS certificate that .*; pass the CA that signed it with --manager-ca FILE$/);
      assert.ok(!result.stderr.includes(await env.token()));
    }
  });

  await t.test('an agent given the wrong CA logs one clear error, keeps retrying, and serves the app meanwhile', async () => {
    const wrong = await otherCa(join(dir, 'for-agent'));
    const agent = await startProcess(
      [DETOUR_BIN, 'agent', '--service', 'api', '--listen', '0', '--app', appUrl, '--manager', env.managerUrl, '--token-file', env.tokenFile, '--manager-ca', wrong, '--host', '127.0.0.1'],
      /listening on (https?:\/\/\S+)/,
      { DETOUR_LOG_LEVEL: 'info' },
    );
    t.after(() => stopProcess(agent.child));
    const line = await eventually('the agent logs the untrusted manager', async () => agent.stderr().split('\n').find((l) => l.includes('DETOUR_ERR_TLS_MANAGER_UNTRUSTED')));
    assert.match(line, /presented a TLS certificate that .*pass the CA that signed it with --manager-ca FILE/);
    // Retries go on with backoff; the same error is not logged again for each.
    await eventually('a second failed attempt', async () => (agent.stderr().match(/manager link down|transient-failure/g)?.length ?? 0) >= 1 || undefined);
    assert.equal(agent.stderr().split('\n').filter((l) => l.includes('DETOUR_ERR_TLS_MANAGER_UNTRUSTED')).length, 1);
    assert.ok(!agent.stderr().includes(await env.token()));
    // Without rules (after the first-rule-set wait) it routes everything to the app.
    assert.equal(await answeredBy(agent.value, { [name]: value }), 'api');
  });
});

test('issue 13: mTLS for agents (--client-ca): without a client certificate an agent is refused, with one it routes', { timeout: 90_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-e2e-mtls-'));
  const certs = await makeCertificates(dir);
  const client = await makeClientCertificate(dir, 'agent');
  const env = await Environment.create({ dir, managerCa: certs.caFile, managerArgs: ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--client-ca', certs.caFile] });
  t.after(() => env.close());
  const app = await env.app('api');

  const refused = await env.agent('api', app.url, [], 0, { DETOUR_LOG_LEVEL: 'info' });
  const line = await eventually('the agent logs the refusal', async () => refused.stderr().split('\n').find((l) => l.includes('DETOUR_ERR_AUTH_CLIENT_CERT')));
  assert.match(line, /accepts agents only with a client certificate signed by its --client-ca .*start the agent with --client-cert and --client-key/);
  await stopProcess(refused.child);

  const agent = await env.agent('api', app.url, ['--client-cert', client.certFile, '--client-key', client.keyFile]);
  // Daemons present no certificate: the HTTP/1.1 side (API, tunnels) is not the agents'.
  const bob = await env.developer('bob');
  const [name, value] = await bob.interceptHeader('api');
  assert.equal(await answeredBy(agent.url, { [name]: value }), 'bob-laptop');
  assert.equal(await answeredBy(agent.url), 'api');
});

test('issue 13: no token in cleartext to a non-loopback manager unless --insecure, which warns in one line', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-e2e-cleartext-'));
  const env = await Environment.create({ dir });
  t.after(() => env.close());
  // 10.255.255.1 is not this machine: the refusal comes before any connection, so nothing is sent there.
  const away = 'http://10.255.255.1:8700';
  for (const args of [
    ['agent', '--service', 'api', '--listen', '0', '--app', 'http://127.0.0.1:9', '--manager', away, '--token-file', env.tokenFile],
    ['connect', '--manager', away, '--token-file', env.tokenFile, '--name', 'eve'],
  ]) {
    const result = await runCli(args, { DETOUR_HOME: join(dir, 'home-eve') });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr, `detour: refusing to send the token in cleartext to ${away}: use an https:// manager (detour manager --tls-cert/--tls-key), or pass --insecure if the network between is trusted\n`);
  }
  const agent = await startProcess(
    [DETOUR_BIN, 'agent', '--service', 'api', '--listen', '0', '--app', 'http://127.0.0.1:9', '--manager', away, '--token-file', env.tokenFile, '--insecure'],
    /listening on (https?:\/\/\S+)/,
  );
  t.after(() => stopProcess(agent.child));
  assert.equal(
    agent.stderr().split('\n')[0],
    `detour: warning: --insecure: the token and all tunnelled traffic cross the network to ${away} unencrypted; anyone on the path can read them and use the token as you`,
  );
  // Loopback needs no flag: every other e2e test connects to http://127.0.0.1.
  assert.match(env.managerUrl, /^http:\/\/127\.0\.0\.1:/);
});
