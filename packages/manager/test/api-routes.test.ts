import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_PATHS, SESSION_KEY_HEADER } from '@detour/protocol';
import type { InterceptRequest, RuleSet, SessionCreated } from '@detour/protocol';
import type { Manager } from '../src/server.js';
import { AGENTS_EGRESS, AUTH, build, codeOf, inject } from './inject.js';

/**
 * Stands in for a connected agent of `service`: an agent's watch stream is an
 * HTTP/2 stream, which an in-process test has none of, so the hub gets a sink
 * that acknowledges every rule set it is sent, as a real agent does once the
 * table is live. (server.test.ts drives a real watch stream.)
 */
function fakeAgent(manager: Manager, service: string): void {
  const { state, hub } = manager.context;
  const agentId = `${service}-agent`;
  state.addAgent({ id: agentId, service, listen: '127.0.0.1:1', protocol: 'auto' });
  hub.attach(agentId, service, { write: (line) => queueMicrotask(() => hub.acknowledge(agentId, (JSON.parse(line) as RuleSet).version)) });
}

async function openSession(manager: Manager, name: string): Promise<SessionCreated> {
  const answer = await inject(manager.api, { method: 'POST', path: API_PATHS.sessions, headers: AUTH, body: { name, clientId: `client-${name}`, headerValue: `${name}-1` } });
  assert.equal(answer.status, 201);
  return answer.body as SessionCreated;
}

function interceptOf(id: string): InterceptRequest {
  return { id, name: id, service: 'api', headers: [{ name: 'x-telepresence-id', op: 'equals', value: id }], paths: [], global: false, onDisconnect: 'fallback', mechanism: 'http', localPort: 9000 };
}

test('token level: every endpoint, known or not, wants the bearer token first', async () => {
  const { api } = build();
  const missing = await inject(api, { method: 'GET', path: API_PATHS.info });
  assert.equal(missing.status, 401);
  assert.equal(codeOf(missing), 'DETOUR_ERR_AUTH_MISSING_TOKEN');
  const wrong = await inject(api, { method: 'GET', path: API_PATHS.info, headers: { authorization: 'Bearer not-the-token' } });
  assert.equal(wrong.status, 401);
  assert.equal(codeOf(wrong), 'DETOUR_ERR_AUTH_BAD_TOKEN');
  const info = await inject(api, { method: 'GET', path: API_PATHS.info, headers: AUTH });
  assert.deepEqual(info, { status: 200, body: { version: 'test', leaseMs: 15_000, globalAllowed: true, signedKeys: false, egress: AGENTS_EGRESS } });

  for (const path of ['/v1/nothing-here', '/elsewhere']) {
    assert.equal((await inject(api, { method: 'GET', path })).status, 401, `${path} without a token`);
    const unknown = await inject(api, { method: 'GET', path, headers: AUTH });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { error: { code: 'DETOUR_ERR_API_NOT_FOUND', message: `no endpoint GET ${path}` } });
  }
  // A known path with another method is no endpoint either.
  assert.equal(codeOf(await inject(api, { method: 'PUT', path: API_PATHS.info, headers: AUTH })), 'DETOUR_ERR_API_NOT_FOUND');
});

test('session level: only the key of :sessionId reads, renews or ends it', async () => {
  const manager = build();
  const alice = await openSession(manager, 'alice');
  const bob = await openSession(manager, 'bob');
  const path = API_PATHS.session(alice.session.id);

  const noKey = await inject(manager.api, { method: 'GET', path, headers: AUTH });
  assert.equal(noKey.status, 403);
  assert.equal(codeOf(noKey), 'DETOUR_ERR_SESSION_BAD_KEY');
  for (const [method, target] of [['GET', path], ['POST', API_PATHS.heartbeat(alice.session.id)], ['DELETE', path]] as const) {
    const asBob = await inject(manager.api, { method, path: target, headers: { ...AUTH, [SESSION_KEY_HEADER]: bob.key } });
    assert.equal(asBob.status, 403, `${method} ${target} with bob's key`);
    assert.equal(codeOf(asBob), 'DETOUR_ERR_SESSION_BAD_KEY');
  }
  // The token is checked before the key: a right key without the token gets 401.
  assert.equal((await inject(manager.api, { method: 'GET', path, headers: { [SESSION_KEY_HEADER]: alice.key } })).status, 401);

  const asAlice = { ...AUTH, [SESSION_KEY_HEADER]: alice.key };
  const read = await inject(manager.api, { method: 'GET', path, headers: asAlice });
  assert.equal(read.status, 200);
  assert.equal((read.body as { name: string }).name, 'alice');
  assert.equal((await inject(manager.api, { method: 'POST', path: API_PATHS.heartbeat(alice.session.id), headers: asAlice })).status, 200);
  assert.deepEqual(await inject(manager.api, { method: 'DELETE', path, headers: asAlice }), { status: 204, body: undefined });
  const gone = await inject(manager.api, { method: 'GET', path, headers: asAlice });
  assert.equal(gone.status, 404);
  assert.equal(codeOf(gone), 'DETOUR_ERR_SESSION_UNKNOWN');
});

test('caller-session level: creating an intercept needs a live session key, checked before the body is read', async () => {
  const manager = build();
  fakeAgent(manager, 'api');
  const alice = await openSession(manager, 'alice');
  // Not JSON at all: a 404 instead of a 400 shows that the gate answered before the handler read it.
  const noKey = await inject(manager.api, { method: 'POST', path: API_PATHS.intercepts, headers: AUTH, body: 'not json' });
  assert.equal(noKey.status, 404);
  assert.equal(codeOf(noKey), 'DETOUR_ERR_SESSION_UNKNOWN');
  const staleKey = await inject(manager.api, { method: 'POST', path: API_PATHS.intercepts, headers: { ...AUTH, [SESSION_KEY_HEADER]: 'no-such-key' }, body: interceptOf('a1') });
  assert.equal(codeOf(staleKey), 'DETOUR_ERR_SESSION_UNKNOWN');

  const created = await inject(manager.api, { method: 'POST', path: API_PATHS.intercepts, headers: { ...AUTH, [SESSION_KEY_HEADER]: alice.key }, body: interceptOf('a1') });
  assert.equal(created.status, 201);
  assert.equal((created.body as { owner: { name: string } }).owner.name, 'alice');
  const badBody = await inject(manager.api, { method: 'POST', path: API_PATHS.intercepts, headers: { ...AUTH, [SESSION_KEY_HEADER]: alice.key }, body: 'not json' });
  assert.equal(badBody.status, 400);
  assert.equal(codeOf(badBody), 'DETOUR_ERR_API_BAD_REQUEST');
});

test("intercept-owner level: another developer's intercept is refused and stays", async () => {
  const manager = build();
  fakeAgent(manager, 'api');
  const alice = await openSession(manager, 'alice');
  const bob = await openSession(manager, 'bob');
  assert.equal((await inject(manager.api, { method: 'POST', path: API_PATHS.intercepts, headers: { ...AUTH, [SESSION_KEY_HEADER]: alice.key }, body: interceptOf('a1') })).status, 201);

  const asBob = await inject(manager.api, { method: 'DELETE', path: API_PATHS.intercept('a1'), headers: { ...AUTH, [SESSION_KEY_HEADER]: bob.key } });
  assert.equal(asBob.status, 403);
  assert.equal(codeOf(asBob), 'DETOUR_ERR_INTERCEPT_FORBIDDEN');
  assert.deepEqual((asBob.body as { error: { details: unknown } }).error.details, { owner: 'alice' });
  assert.equal(manager.context.state.getIntercept('a1')?.owner.name, 'alice');
  // Re-asserting alice's id from bob's session is refused the same way.
  const takeover = await inject(manager.api, { method: 'POST', path: API_PATHS.intercepts, headers: { ...AUTH, [SESSION_KEY_HEADER]: bob.key }, body: interceptOf('a1') });
  assert.equal(codeOf(takeover), 'DETOUR_ERR_INTERCEPT_FORBIDDEN');

  const unknown = await inject(manager.api, { method: 'DELETE', path: API_PATHS.intercept('nope'), headers: { ...AUTH, [SESSION_KEY_HEADER]: bob.key } });
  assert.equal(unknown.status, 404);
  assert.equal(codeOf(unknown), 'DETOUR_ERR_INTERCEPT_NOT_FOUND');
  const noSession = await inject(manager.api, { method: 'DELETE', path: API_PATHS.intercept('a1'), headers: AUTH });
  assert.equal(codeOf(noSession), 'DETOUR_ERR_SESSION_UNKNOWN');

  assert.deepEqual(await inject(manager.api, { method: 'DELETE', path: API_PATHS.intercept('a1'), headers: { ...AUTH, [SESSION_KEY_HEADER]: alice.key } }), { status: 204, body: undefined });
  assert.equal(manager.context.state.getIntercept('a1'), undefined);
});

test('the agent watch exists only on HTTP/2', async () => {
  const { api } = build();
  const path = `${API_PATHS.agentWatch}?service=api&agentId=a`;
  const answer = await inject(api, { method: 'GET', path, headers: AUTH });
  assert.equal(answer.status, 404);
  assert.equal(codeOf(answer), 'DETOUR_ERR_API_NOT_FOUND');
});

test('an ack from an agent that is not watching is 404; a known one is 204', async () => {
  const manager = build();
  const unknown = await inject(manager.api, { method: 'POST', path: API_PATHS.agentAck('ghost'), headers: AUTH, body: { version: 1 } });
  assert.equal(unknown.status, 404);
  assert.equal(codeOf(unknown), 'DETOUR_ERR_API_NOT_FOUND');
  fakeAgent(manager, 'api');
  assert.equal((await inject(manager.api, { method: 'POST', path: API_PATHS.agentAck('api-agent'), headers: AUTH, body: { version: 1 } })).status, 204);
});

test('an agent publishes its environment only on the HTTP/2 session of its own watch; a developer reads it with a session key', async () => {
  const manager = build();
  // No watch stream carries this agent on this (HTTP/1.1) call: the token alone does not make a caller that agent.
  const posted = await inject(manager.api, { method: 'POST', path: API_PATHS.agentEnvironment('api-1'), headers: AUTH, body: { variables: [{ name: 'A', value: '1' }] } });
  assert.equal(codeOf(posted), 'DETOUR_ERR_API_NOT_FOUND');
  const alice = await openSession(manager, 'alice');
  const read = await inject(manager.api, { method: 'GET', path: API_PATHS.serviceEnvironment('api'), headers: { ...AUTH, [SESSION_KEY_HEADER]: alice.key } });
  assert.equal(read.status, 404);
  assert.equal(codeOf(read), 'DETOUR_ERR_ENV_NOT_PUBLISHED');
  assert.equal(codeOf(await inject(manager.api, { method: 'GET', path: API_PATHS.serviceEnvironment('api'), headers: AUTH })), 'DETOUR_ERR_SESSION_UNKNOWN');
});
