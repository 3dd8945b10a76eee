// Issue 13, signed routing keys: with `detour manager --signed-keys` the value a developer's
// `auto` intercept matches is `name.<expiry>.<keyId>.<mac>`; agents route it only while it
// verifies and has not expired. Real manager, agent, daemons and apps on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import type { ServiceList, SessionCreated } from '@detour/protocol';
import { Environment, answeredBy, answeredViaPreview } from './support/environment.js';
import { DETOUR_BIN, eventually, startProcess } from './support/processes.js';

const SIGNED = /^x-telepresence-id=(alice-[0-9a-f]+)\.(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/;

function changeOne(value: string): string {
  const at = value.length - 5;
  return `${value.slice(0, at)}${value[at] === 'A' ? 'B' : 'A'}${value.slice(at + 1)}`;
}

test('issue 13: signed values reach the laptop; changed, expired and bare ones go to the app, and are counted; rotation keeps routing', { timeout: 120_000 }, async (t) => {
  // Values live 10 s, keys rotate every 2 s: the test sees rotations, an overlap and an expiry in well under a minute.
  const env = await Environment.create({ managerArgs: ['--signed-keys', '--signed-key-ttl', '10s', '--signed-key-rotation', '2s'] });
  t.after(() => env.close());
  const app = await env.app('api');
  const agent = await startProcess(
    [DETOUR_BIN, 'agent', '--service', 'api', '--listen', '0', '--app', app.url, '--manager', env.managerUrl, '--token-file', env.tokenFile, '--metrics-port', '0'],
    /metrics on (http:\/\/\S+)/,
  );
  t.after(() => agent.child.kill());
  const token = await env.token();
  const api = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    const r = await request(`${env.managerUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return (await r.body.json()) as T;
  };
  const agentUrl = await eventually('the agent is listed', async () => {
    const { services } = await api<ServiceList>('GET', '/v1/services');
    const listen = services.find((s) => s.name === 'api')?.agents[0]?.listen;
    return listen === undefined ? undefined : `http://${listen}`;
  });

  const alice = await env.developer('alice');
  const human = await alice.cli(['intercept', 'api', '--port', String(alice.localPort)]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /Intercepting {3}: x-telepresence-id=alice-[0-9a-f]+ \(signed\)/);
  assert.match(human.stdout, /Send the header: x-telepresence-id: alice-[0-9a-f]+\.\d+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}\n/);
  assert.match(human.stdout, /Signed value {3}: valid until \d{4}-\d\d-\d\dT/);
  const list = JSON.parse((await alice.cli(['list', '--output', 'json'])).stdout) as ServiceList;
  const header = `x-telepresence-id=${(JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { header: { signedValue: { value: string } } }).header.signedValue.value}`;
  const [, bare, , keyId] = SIGNED.exec(header) ?? assert.fail(`not a signed value: ${header}`);
  const value = header.slice('x-telepresence-id='.length);
  assert.deepEqual(list.services[0]!.intercepts[0]!.headers, [{ name: 'x-telepresence-id', op: 'equals', value: bare, signed: true }]);

  assert.equal(await answeredBy(agentUrl, { 'x-telepresence-id': value }), 'alice-laptop');
  assert.equal(await answeredBy(agentUrl, { 'x-telepresence-id': changeOne(value) }), 'api');
  assert.equal(await answeredBy(agentUrl, { 'x-telepresence-id': bare! }), 'api');
  assert.equal(await answeredBy(agentUrl), 'api');

  // Rotation: a session opened now is signed with a newer key, and alice's value (older key) still routes.
  await eventually('a key rotation', async () => {
    const { session } = await api<SessionCreated>('POST', '/v1/sessions', { name: 'probe', clientId: randomUUID(), headerValue: `probe-${randomUUID().slice(0, 8)}` });
    return session.signedValue!.value.split('.').at(-2) !== keyId || undefined;
  }, 15_000, 250);
  assert.equal(await answeredBy(agentUrl, { 'x-telepresence-id': value }), 'alice-laptop');

  // Expiry: past its 10 s the first value goes to the app, while the value the daemon renewed meanwhile routes.
  await eventually('the first value expires', async () => ((await answeredBy(agentUrl, { 'x-telepresence-id': value })) === 'api' ? true : undefined), 20_000, 250);
  const renewed = (JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { header: { signedValue: { value: string } } }).header.signedValue.value;
  assert.notEqual(renewed, value);
  assert.equal(await answeredBy(agentUrl, { 'x-telepresence-id': renewed }), 'alice-laptop');

  const metrics = await (await request(`${agent.value}`)).body.text();
  const count = (reason: string) => Number(new RegExp(`^detour_agent_routing_keys_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  assert.ok(count('forged') >= 1, metrics);
  assert.ok(count('unsigned') >= 1, metrics);
  assert.ok(count('expired') >= 1, metrics);
  // No MAC in the agent's log, nor in the daemon's.
  const daemonLog = await readFile(join(alice.home, 'daemon.log'), 'utf8');
  for (const mac of [value, renewed].map((v) => v.split('.').at(-1)!)) {
    assert.ok(!agent.stderr().includes(mac));
    assert.ok(!daemonLog.includes(mac));
  }
});

test('issue 13: a preview of a signed intercept sends its owner\'s signed value, so it reaches the laptop', { timeout: 60_000 }, async (t) => {
  const env = await Environment.create({ managerArgs: ['--signed-keys', '--preview-listen', '0'] });
  t.after(() => env.close());
  const app = await env.app('web');
  const agent = await env.agent('web', app.url);
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('web');
  assert.match(`${name}=${value}`, SIGNED);
  const created = await alice.cli(['preview', 'create', 'web', '--output', 'json']);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(await answeredViaPreview((JSON.parse(created.stdout) as { url: string }).url), 'alice-laptop');
  // The bare name still goes to the app: the preview's value is the signed one, not a bypass.
  assert.equal(await answeredBy(agent.url, { [name]: value.split('.')[0]! }), 'web');
});
