// Issue 13, both halves at once: a manager with per-user tokens (--auth-file), TLS with mTLS
// for agents (--tls-cert/--tls-key/--client-ca) and signed routing keys (--signed-keys). Real
// manager, agents, daemons and apps on 127.0.0.1; certificates made at test time (openssl).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { ErrorBody, ServiceList } from '@detour/protocol';
import { Environment, answeredBy } from './support/environment.js';
import type { TestIdentity } from './support/environment.js';
import { makeCertificates, makeClientCertificate } from './support/certificates.js';
import { DETOUR_BIN, eventually, startProcess, stopProcess } from './support/processes.js';

const IDENTITIES: TestIdentity[] = [
  { name: 'alice', role: 'developer' },
  { name: 'edge', role: 'agent' },
];

/** `alice-3f9c0a.<expiry>.<keyId>.<mac>`: a value signed for the identity alice, whatever --name her daemon sent. */
const ALICE_SIGNED = /^(alice-[0-9a-f]{6})\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/;

test('issue 13: identities over TLS with mTLS agents and signed keys: a developer over https gets a value signed for her identity, which reaches her laptop; roles still apply on top of client certificates', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-e2e-trust-tls-'));
  const certs = await makeCertificates(dir);
  const client = await makeClientCertificate(dir, 'edge-agent');
  const env = await Environment.create({
    dir,
    identities: IDENTITIES,
    managerCa: certs.caFile,
    managerArgs: ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile, '--client-ca', certs.caFile, '--signed-keys'],
    managerEnv: { DETOUR_LOG_LEVEL: 'debug' },
  });
  t.after(() => env.close());
  assert.match(env.managerUrl, /^https:\/\/127\.0\.0\.1:\d+$/);

  // The agent identity, over mTLS (its client certificate) and with --manager-ca (env.agent passes it).
  const app = await env.app('api');
  const agent = await env.agent('api', app.url, ['--client-cert', client.certFile, '--client-key', client.keyFile]);

  // Alice connects over https with --manager-ca, under another --name: the identity names her session.
  const alice = await env.developer('mallory', undefined, env.tokenFileOf('alice'));
  await eventually('the agent is listed', async () => {
    const list = JSON.parse((await alice.cli(['list', '--output', 'json'])).stdout) as ServiceList;
    return (list.services.find((s) => s.name === 'api')?.agents.length ?? 0) > 0 || undefined;
  });
  const intercepted = await alice.cli(['intercept', 'api', '--port', String(alice.localPort)]);
  assert.equal(intercepted.code, 0, intercepted.stderr);
  assert.match(intercepted.stdout, /Intercepting {3}: x-telepresence-id=alice-[0-9a-f]{6} \(signed\)/);

  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as {
    name: string;
    manager: { url: string };
    header: { value: string; signedValue: { value: string } };
  };
  assert.equal(status.name, 'alice');
  assert.equal(status.manager.url, env.managerUrl);
  const signed = status.header.signedValue.value;
  const [, bare] = ALICE_SIGNED.exec(signed) ?? assert.fail(`not a value signed for alice: ${signed}`);
  assert.equal(bare, status.header.value);

  // Her signed value reaches her laptop; the bare name (anyone could type it) goes to the app.
  assert.equal(await answeredBy(agent.url, { 'x-telepresence-id': signed }), 'mallory-laptop');
  assert.equal(await answeredBy(agent.url, { 'x-telepresence-id': bare! }), 'api');
  assert.equal(await answeredBy(agent.url), 'api');

  // The audit file names the identity for her session and intercept.
  const audit = (await readFile(env.auditFile!, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { who: string; action: string; outcome: string });
  for (const action of ['session.open', 'intercept.create']) {
    assert.ok(audit.some((entry) => entry.who === 'alice' && entry.action === action && entry.outcome === 'ok'), `${action} by alice in ${JSON.stringify(audit)}`);
  }

  await t.test("a client certificate does not make a developer's token an agent's: the agents' calls need the serve permission", async () => {
    const withDeveloperToken = await startProcess(
      [DETOUR_BIN, 'agent', '--service', 'api', '--listen', '0', '--app', app.url, '--manager', env.managerUrl, '--token-file', env.tokenFileOf('alice'), ...env.caArgs(), '--client-cert', client.certFile, '--client-key', client.keyFile],
      /listening on (https?:\/\/\S+)/,
      { DETOUR_LOG_LEVEL: 'info' },
    );
    t.after(() => stopProcess(withDeveloperToken.child));
    const line = await eventually('the agent logs the refusal', async () => withDeveloperToken.stderr().split('\n').find((l) => l.includes('DETOUR_ERR_AUTH_FORBIDDEN')), 20_000);
    assert.match(line, /alice/);
    // The HTTP/1.1 side of the agents' calls (here an ack), which --client-ca does not cover, is refused by role.
    const dispatcher = new Agent({ connect: { ca: certs.ca } });
    t.after(() => dispatcher.close());
    const ack = await request(`${env.managerUrl}/v1/agents/anything/ack`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${(await readFile(env.tokenFileOf('alice'), 'utf8')).trim()}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(ack.statusCode, 403);
    assert.equal(((await ack.body.json()) as ErrorBody).error.code, 'DETOUR_ERR_AUTH_FORBIDDEN');
  });
});
