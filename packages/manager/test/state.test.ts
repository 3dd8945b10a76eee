import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterceptRequest } from '@detour/protocol';
import { ManagerState } from '../src/index.js';

function setup(options: { globalAllowed?: boolean } = {}) {
  let now = 1_000_000;
  const state = new ManagerState({ leaseMs: 15_000, globalAllowed: options.globalAllowed ?? true, now: () => now });
  state.addAgent({ id: 'api-1', service: 'api', listen: '127.0.0.1:1', protocol: 'auto' });
  state.addAgent({ id: 'web-1', service: 'web', listen: '127.0.0.1:2', protocol: 'http1' });
  state.addAgent({ id: 'db-1', service: 'db', listen: '127.0.0.1:3', protocol: 'tcp' });
  const alice = state.createSession({ name: 'alice', clientId: 'client-alice', headerValue: 'alice-1' });
  const bob = state.createSession({ name: 'bob', clientId: 'client-bob', headerValue: 'bob-2' });
  return { state, alice: alice.session.id, bob: bob.session.id, advance: (ms: number) => (now += ms) };
}

function ask(id: string, partial: Partial<InterceptRequest> = {}): InterceptRequest {
  return { id, name: id, service: 'api', headers: [{ name: 'x-telepresence-id', op: 'equals', value: id }], paths: [], global: false, onDisconnect: 'fallback', mechanism: 'http', localPort: 9000, ...partial };
}

test('identical matchers conflict and the error names the owner', () => {
  const { state, alice, bob } = setup();
  state.addIntercept(alice, ask('a1', { headers: [{ name: 'x-dev', op: 'equals', value: 'v' }] }));
  assert.throws(() => state.addIntercept(bob, ask('b1', { headers: [{ name: 'x-dev', op: 'equals', value: 'v' }] })), (err: Error & { code: string }) => {
    assert.equal(err.code, 'DETOUR_ERR_INTERCEPT_CONFLICT');
    assert.match(err.message, /alice/);
    return true;
  });
});

test('unknown service lists the known ones', () => {
  const { state, alice } = setup();
  assert.throws(() => state.addIntercept(alice, ask('x', { service: 'nope' })), /no agent serves nope; known services: api, db, web/);
});

test('global is refused while another intercept exists, and blocks later ones', () => {
  const { state, alice, bob } = setup();
  state.addIntercept(alice, ask('a1'));
  assert.throws(() => state.addIntercept(bob, ask('g', { headers: [], global: true })), { code: 'DETOUR_ERR_INTERCEPT_GLOBAL_CONFLICT' });
  state.addIntercept(bob, ask('g', { service: 'web', headers: [], global: true }));
  assert.throws(() => state.addIntercept(alice, ask('a2', { service: 'web' })), /bob holds a global intercept/);
});

test('global is refused entirely with --no-global', () => {
  const { state, alice } = setup({ globalAllowed: false });
  assert.throws(() => state.addIntercept(alice, ask('g', { headers: [], global: true })), { code: 'DETOUR_ERR_INTERCEPT_GLOBAL_DISABLED' });
});

test('a developer can remove only their own intercepts', () => {
  const { state, alice, bob } = setup();
  state.addIntercept(alice, ask('a1'));
  assert.throws(() => state.removeIntercept(bob, 'a1'), { code: 'DETOUR_ERR_INTERCEPT_FORBIDDEN' });
  assert.throws(() => state.addIntercept(bob, ask('a1', { headers: [{ name: 'x', op: 'equals', value: 'y' }] })), { code: 'DETOUR_ERR_INTERCEPT_FORBIDDEN' });
  assert.equal(state.removeIntercept(alice, 'a1').id, 'a1');
});

test('re-asserting the same intercept is idempotent', () => {
  const { state, alice } = setup();
  const first = state.addIntercept(alice, ask('a1'));
  const again = state.addIntercept(alice, ask('a1'));
  assert.equal(first.created, true);
  assert.equal(again.created, false);
  assert.equal(state.ruleSet('api').intercepts.length, 1);
});

test('tunnel state drives online, and versions grow on every change', () => {
  const { state, alice } = setup();
  state.addIntercept(alice, ask('a1'));
  const v1 = state.ruleSet('api').version;
  assert.equal(state.ruleSet('api').intercepts[0]!.online, false);
  assert.deepEqual([...state.setTunnel(alice, true)], ['api']);
  assert.equal(state.ruleSet('api').intercepts[0]!.online, true);
  assert.ok(state.ruleSet('api').version > v1);
});

test('an expired lease removes the session and its intercepts', () => {
  const { state, alice, bob, advance } = setup();
  state.addIntercept(alice, ask('a1'));
  state.addIntercept(bob, ask('b1'));
  advance(10_000);
  state.heartbeat(bob);
  advance(6_000);
  const { expired, changed } = state.expireSessions();
  assert.deepEqual(expired.map((s) => s.name), ['alice']);
  assert.deepEqual([...changed], ['api']);
  assert.deepEqual(state.ruleSet('api').intercepts.map((i) => i.id), ['b1']);
});

test('a header value in use by another developer is refused; the same home replaces its session', () => {
  const { state, alice } = setup();
  assert.throws(() => state.createSession({ name: 'mallory', clientId: 'client-m', headerValue: 'alice-1' }), { code: 'DETOUR_ERR_SESSION_NAME_TAKEN' });
  state.addIntercept(alice, ask('a1'));
  const again = state.createSession({ name: 'alice', clientId: 'client-alice', headerValue: 'alice-1' });
  assert.equal(state.getSession(alice), undefined);
  assert.deepEqual([...again.changed], ['api']);
  assert.equal(state.ruleSet('api').intercepts.length, 0);
});

test('session keys are checked', () => {
  const state = new ManagerState({ leaseMs: 1000, globalAllowed: true });
  const { session, key } = state.createSession({ name: 'a', clientId: 'client-a', headerValue: 'a-1' });
  assert.equal(state.authorizeSession(session.id, key).id, session.id);
  assert.throws(() => state.authorizeSession(session.id, 'wrong'), { code: 'DETOUR_ERR_SESSION_BAD_KEY' });
  assert.throws(() => state.sessionForKey('wrong'), { code: 'DETOUR_ERR_SESSION_UNKNOWN' });
});

test('a raw TCP service takes only a global tcp intercept, and tcp is refused on an HTTP service', () => {
  const { state, alice, bob } = setup();
  const onDb = (id: string, partial: Partial<InterceptRequest>) => ask(id, { service: 'db', ...partial });
  assert.throws(() => state.addIntercept(alice, onDb('h', {})), { code: 'DETOUR_ERR_INTERCEPT_TCP_NEEDS_GLOBAL', message: /db is a raw TCP service/ });
  assert.throws(() => state.addIntercept(alice, onDb('p', { headers: [], paths: [{ op: 'prefix', value: '/' }], mechanism: 'tcp' })), { code: 'DETOUR_ERR_INTERCEPT_TCP_NEEDS_GLOBAL' });
  assert.throws(() => state.addIntercept(alice, onDb('g', { headers: [], global: true })), { code: 'DETOUR_ERR_INTERCEPT_TCP_NEEDS_GLOBAL' });
  assert.throws(() => state.addIntercept(alice, ask('t', { headers: [], global: true, mechanism: 'tcp' })), { code: 'DETOUR_ERR_INTERCEPT_MECHANISM_MISMATCH' });
  const { intercept } = state.addIntercept(alice, onDb('t', { headers: [], global: true, mechanism: 'tcp' }));
  assert.equal(intercept.mechanism, 'tcp');
  assert.deepEqual(state.ruleSet('db').intercepts.map((i) => i.mechanism), ['tcp']);
  // The usual global rules still hold on top.
  assert.throws(() => state.addIntercept(bob, onDb('t2', { headers: [], global: true, mechanism: 'tcp' })), { code: 'DETOUR_ERR_INTERCEPT_GLOBAL_CONFLICT' });
});

test('restored intercepts are listed offline and go back to the daemon home that re-asserts them', () => {
  const before = setup();
  before.state.addIntercept(before.alice, ask('a1'));
  before.state.setTunnel(before.alice, true);
  const stored = before.state.storedIntercepts();
  assert.equal(stored[0]!.intercept.online, true);

  // A new manager process: same store, no sessions.
  let changes = 0;
  let now = 2_000_000;
  const state = new ManagerState({ leaseMs: 15_000, globalAllowed: true, now: () => now, onInterceptsChanged: () => changes++ });
  state.addAgent({ id: 'api-1', service: 'api', listen: '127.0.0.1:1', protocol: 'auto' });
  assert.deepEqual([...state.restore(stored)], ['api']);
  assert.equal(changes, 1);
  const listed = state.services().find((s) => s.name === 'api')!.intercepts;
  assert.deepEqual(listed.map((i) => [i.id, i.online]), [['a1', false]]);

  // Another developer cannot take it over, nor leave it.
  const bob = state.createSession({ name: 'bob', clientId: 'client-bob', headerValue: 'bob-2' }).session.id;
  assert.throws(() => state.addIntercept(bob, ask('a1')), { code: 'DETOUR_ERR_INTERCEPT_FORBIDDEN' });
  assert.throws(() => state.removeIntercept(bob, 'a1'), { code: 'DETOUR_ERR_INTERCEPT_FORBIDDEN' });

  // Alice's daemon opens a new session, its tunnel comes up, then it re-asserts by id.
  const alice = state.createSession({ name: 'alice', clientId: 'client-alice', headerValue: 'alice-1' }).session.id;
  state.setTunnel(alice, true);
  const again = state.addIntercept(alice, ask('a1'));
  assert.equal(again.reclaimed, true);
  assert.equal(again.created, false);
  assert.equal(again.intercept.owner.sessionId, alice);
  assert.equal(again.intercept.online, true);
  assert.equal(again.intercept.createdAt, stored[0]!.intercept.createdAt, 'still the same intercept');
  assert.equal(state.ruleSet('api').intercepts.length, 1, 'no duplicate');
  // Re-asserting once more is the plain idempotent case, and the lease of the restart no longer applies.
  assert.deepEqual({ ...state.addIntercept(alice, ask('a1')), intercept: undefined }, { intercept: undefined, created: false, reclaimed: false });
  now += 60_000;
  state.heartbeat(alice);
  assert.deepEqual(state.expireSessions().abandoned, []);
  assert.equal(state.ruleSet('api').intercepts.length, 1);
});

test('restored intercepts nobody re-asserts within a lease are dropped', () => {
  const before = setup();
  before.state.addIntercept(before.alice, ask('a1'));
  let now = 5_000_000;
  const state = new ManagerState({ leaseMs: 15_000, globalAllowed: true, now: () => now });
  state.restore(before.state.storedIntercepts());
  now += 14_999;
  assert.deepEqual(state.expireSessions().abandoned, []);
  now += 1;
  const { abandoned, changed } = state.expireSessions();
  assert.deepEqual(abandoned.map((i) => i.id), ['a1']);
  assert.deepEqual([...changed], ['api']);
  assert.deepEqual(state.storedIntercepts(), []);
});

test('an intercept deleted from the store (kubectl delete) is dropped whoever owns it', () => {
  const { state, alice } = setup();
  state.addIntercept(alice, ask('a1'));
  assert.deepEqual([...state.dropIntercept('a1')], ['api']);
  assert.deepEqual([...state.dropIntercept('a1')], [], 'twice is harmless');
  assert.equal(state.ruleSet('api').intercepts.length, 0);
});

test('published environments: kept per agent, the newest publishing agent of a service answers, gone with the agent, never in the service list', () => {
  const { state, advance } = setup();
  assert.equal(state.serviceEnvironment('api'), undefined);
  assert.equal(state.setAgentEnvironment('nobody', [{ name: 'A', value: '1' }]), undefined);
  state.setAgentEnvironment('api-1', [{ name: 'SECRET', value: 'one' }]);
  advance(10);
  state.addAgent({ id: 'api-2', service: 'api', listen: '127.0.0.1:4', protocol: 'auto' });
  assert.deepEqual(state.serviceEnvironment('api'), { agentId: 'api-1', variables: [{ name: 'SECRET', value: 'one' }] }, 'an agent that published none does not hide one that did');
  state.setAgentEnvironment('api-2', [{ name: 'SECRET', value: 'two' }]);
  assert.equal(state.serviceEnvironment('api')?.agentId, 'api-2');
  assert.ok(!JSON.stringify(state.services()).includes('SECRET'));
  state.removeAgent('api-2');
  assert.equal(state.serviceEnvironment('api')?.agentId, 'api-1');
  state.removeAgent('api-1');
  assert.equal(state.serviceEnvironment('api'), undefined);
});

test('wiretaps conflict with nothing, and cannot be global, fail or fall through', () => {
  const { state, alice, bob } = setup();
  const same = { headers: [{ name: 'x-dev', op: 'equals' as const, value: 'v' }] };
  state.addIntercept(alice, ask('a1', same));
  state.addIntercept(bob, ask('b1', { ...same, mode: 'wiretap' }));
  state.addIntercept(alice, ask('a2', { ...same, mode: 'wiretap' }));
  // A global intercept beside a wiretap, on another service: neither refuses the other.
  state.addIntercept(bob, ask('b2', { service: 'web', headers: [], global: true }));
  state.addIntercept(alice, ask('a3', { ...same, service: 'web', mode: 'wiretap' }));
  for (const partial of [{ global: true, headers: [] }, { onDisconnect: 'fail' as const }, { fallthrough: { statuses: [404], bodyLimitBytes: 0 } }]) {
    assert.throws(() => state.addIntercept(bob, ask('bad', { ...partial, mode: 'wiretap' })), (err: Error & { code: string }) => err.code === 'DETOUR_ERR_API_BAD_REQUEST');
  }
});
