// Issue 13: the auth file, identities, permissions and policy as plain data, and the
// AuthSource against real files. The end-to-end side is test/e2e/trust.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_PATHS } from '@detour/protocol';
import type { InterceptRequest, TokenCreated } from '@detour/protocol';
import type { DetourError} from '@detour/core';
import { createLogger, isDetourError } from '@detour/core';
import { parseAuthFile } from '../src/auth/auth-file.js';
import type { AuthConfig } from '../src/auth/auth-file.js';
import { AuthSource } from '../src/auth/auth-source.js';
import { IdentityBook, tokenHash } from '../src/auth/identities.js';
import type { Identity } from '../src/auth/identities.js';
import { checkInterceptPolicy, checkOwnerAction, checkPermission } from '../src/auth/permissions.js';
import { endRevoked } from '../src/lease-expiry.js';
import { build, codeOf, inject } from './inject.js';

const silent = createLogger('manager', { level: 'silent' });

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isDetourError(err) && err.code === 'DETOUR_ERR_AUTH_FILE_INVALID', String(err));
    return err.details?.problems as string[];
  }
  assert.fail('expected DETOUR_ERR_AUTH_FILE_INVALID');
}

const HASH = tokenHash('dtr_alice');

test('an auth file: YAML or JSON, role policies under identity policies, every problem with its line and field', () => {
  const yaml = ['roles:', '  developer: { global: false, maxIntercepts: 2 }', 'identities:', '  - name: alice', '    role: developer', `    tokenSha256: ${HASH}`, '    policy: { maxIntercepts: 5 }', ''].join('\n');
  const config = parseAuthFile(yaml, 'auth.yaml');
  const book = IdentityBook.fromConfig(config);
  assert.deepEqual(book.list(0), [{ name: 'alice', role: 'developer', policy: { global: false, maxIntercepts: 5 }, expired: false }]);
  assert.deepEqual(parseAuthFile(JSON.stringify({ identities: config.identities }), 'auth.json').identities, config.identities);

  assert.deepEqual(problemsOf(() => parseAuthFile('roles: {}\n', 'a.yaml')), ['line 1: identities: Invalid input: expected array, received undefined']);
  assert.deepEqual(
    problemsOf(() => parseAuthFile(['identities:', '  - name: x', '    role: agent', `    tokenSha256: ${HASH}`, '    expiresAt: tomorrow', '  - name: y', '    role: agent', `    tokenSha256: ${HASH}`, ''].join('\n'), 'a.yaml')),
    ['line 5: identities[0].expiresAt: Invalid ISO datetime', 'line 8: identities[1].tokenSha256: as identities[0]: the same token; each identity needs its own'],
  );
  assert.match(problemsOf(() => parseAuthFile('identities: [\n', 'a.yaml'))[0]!, /^line \d: YAML syntax: /);
});

test('a token authenticates its identity in constant time; wrong, expired and revoked tokens get one answer that names nobody', () => {
  const config: AuthConfig = {
    roles: {},
    identities: [
      { name: 'alice', role: 'developer', tokenSha256: HASH },
      { name: 'old', role: 'developer', tokenSha256: tokenHash('dtr_old'), expiresAt: '2026-01-01T00:00:00Z' },
    ],
  };
  const book = IdentityBook.fromConfig(config);
  const before = Date.parse('2025-12-31T00:00:00Z');
  const after = Date.parse('2026-01-02T00:00:00Z');
  assert.equal(book.authenticate('dtr_alice', after).name, 'alice');
  assert.equal(book.authenticate('dtr_old', before).name, 'old');
  const answers = ['dtr_wrong', 'dtr_old'].map((token) => {
    try {
      book.authenticate(token, after);
    } catch (err) {
      return [(err as DetourError).code, (err as Error).message];
    }
    return undefined;
  });
  assert.equal(answers[0]![0], 'DETOUR_ERR_AUTH_BAD_TOKEN');
  assert.deepEqual(answers[0], answers[1]);
  assert.equal(book.holds('old', before), true);
  assert.equal(book.holds('old', after), false);
  assert.equal(book.holds('nobody', before), false);
  assert.equal(IdentityBook.fromConfig({ roles: {}, identities: [] }).mode, 'identities');
  assert.equal(IdentityBook.singleToken('t'.repeat(20)).authenticate('t'.repeat(20), 0).shared, true);
});

const developer = (policy: Identity['policy'] = {}): Identity => ({ name: 'alice', role: 'developer', shared: false, policy });
const ask = (overrides: Partial<InterceptRequest> = {}): InterceptRequest => ({
  id: 'i1',
  name: 'api',
  service: 'api',
  headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'alice' }],
  paths: [],
  global: false,
  onDisconnect: 'fallback',
  mechanism: 'http',
  localPort: 8080,
  ...overrides,
});
const refusal = (fn: () => void): string => {
  try {
    fn();
  } catch (err) {
    assert.equal((err as DetourError).code, 'DETOUR_ERR_AUTH_FORBIDDEN');
    return (err as Error).message;
  }
  return 'allowed';
};

test('permissions by role: an agent only serves, a developer never does, an admin administers; the shared single token may do all', () => {
  const agent: Identity = { name: 'edge', role: 'agent', shared: false, policy: {} };
  const admin: Identity = { name: 'ops', role: 'admin', shared: false, policy: {} };
  assert.match(refusal(() => checkPermission(developer(), 'serve')), /^alice \(role developer\) may not act as an agent .* that needs the role agent; an admin can change it/);
  assert.match(refusal(() => checkPermission(agent, 'develop')), /edge \(role agent\) may not open sessions and intercepts/);
  assert.match(refusal(() => checkPermission(developer(), 'administer')), /may not manage tokens/);
  assert.match(refusal(() => checkPermission(admin, 'serve')), /ops \(role admin\) may not act as an agent/);
  for (const permission of ['read', 'develop', 'administer'] as const) assert.equal(refusal(() => checkPermission(admin, permission)), 'allowed');
  assert.match(refusal(() => checkPermission(agent, 'read')), /edge \(role agent\) may not read the manager's info/);
  const shared = IdentityBook.singleToken('t'.repeat(20)).authenticate('t'.repeat(20), 0);
  for (const permission of ['read', 'develop', 'serve', 'administer'] as const) assert.equal(refusal(() => checkPermission(shared, permission)), 'allowed');
  assert.equal(refusal(() => checkOwnerAction(admin, 'alice', 'leave')), 'allowed');
  assert.equal(refusal(() => checkOwnerAction(developer(), 'alice', 'leave')), 'allowed');
  assert.match(refusal(() => checkOwnerAction(developer(), 'bob', 'leave the intercept api')), /alice may not leave the intercept api of bob: only its owner or an admin may/);
});

test('policy: services, --global, how many at once, header names; each refusal names its rule', () => {
  assert.equal(refusal(() => checkInterceptPolicy(developer(), ask({ global: true, headers: [] }), 99)), 'allowed');
  assert.match(refusal(() => checkInterceptPolicy(developer({ services: [] }), ask(), 0)), /may not intercept api: allowed none \(policy rule services\)/);
  assert.match(refusal(() => checkInterceptPolicy(developer({ global: false }), ask({ global: true, headers: [] }), 0)), /take a --global intercept \(policy rule global\)/);
  assert.equal(refusal(() => checkInterceptPolicy(developer({ maxIntercepts: 2 }), ask(), 1)), 'allowed');
  assert.match(refusal(() => checkInterceptPolicy(developer({ maxIntercepts: 2 }), ask(), 2)), /hold more than 2 intercept\(s\) at once; leave one first \(policy rule maxIntercepts\)/);
  assert.equal(refusal(() => checkInterceptPolicy(developer({ headers: ['x-telepresence-id'] }), ask(), 0)), 'allowed');
  assert.match(refusal(() => checkInterceptPolicy(developer({ headers: ['x-telepresence-id'] }), ask({ headers: [{ name: 'authorization', op: 'regex', value: '.*' }] }), 0)), /match on header authorization: allowed x-telepresence-id \(policy rule headers\)/);
});

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'detour-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('AuthSource: a missing file gets an admin; create and revoke rewrite it atomically (mode 0600, JSON stays JSON); a bad reload keeps the previous identities', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'auth.json');
  const { source, createdAdminTokenFile } = await AuthSource.open({ authFile: file, logger: silent, reloadDebounceMs: 10_000 });
  t.after(() => source.close());
  const adminToken = (await readFile(createdAdminTokenFile!, 'utf8')).trim();
  assert.equal(source.book.authenticate(adminToken, Date.now()).role, 'admin');
  assert.equal((await stat(createdAdminTokenFile!)).mode & 0o777, 0o600);

  const changes: number[] = [];
  source.onChange((book) => changes.push(book.list(Date.now()).length));
  const { token, identity } = await source.create({ name: 'alice', role: 'developer', services: ['api'], expiresInMs: 60_000 });
  assert.deepEqual(identity.policy, { services: ['api'] });
  assert.ok(identity.expiresAt! > Date.now());
  const text = await readFile(file, 'utf8');
  assert.doesNotThrow(() => JSON.parse(text), 'still JSON');
  assert.ok(!text.includes(token) && text.includes(tokenHash(token)));
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(source.book.authenticate(token, Date.now()).name, 'alice');
  await assert.rejects(source.create({ name: 'alice', role: 'agent' }), { code: 'DETOUR_ERR_TOKEN_NAME_TAKEN' });

  await writeFile(file, '{"identities": [{"name": "alice"}]}');
  assert.equal(await source.reload(), false);
  assert.equal(source.book.authenticate(token, Date.now()).name, 'alice', 'the previous identities stay');

  // A write starts from the file on disk: it refuses a file with errors, and keeps a hand edit the watch has not reloaded yet.
  await assert.rejects(source.create({ name: 'bob', role: 'developer' }), { code: 'DETOUR_ERR_TOKEN_WRITE_FAILED' });
  const edited = JSON.parse(text) as { identities: Record<string, unknown>[] };
  edited.identities.push({ name: 'carol', role: 'agent', tokenSha256: tokenHash('dtr_carol') });
  await writeFile(file, JSON.stringify(edited));
  await source.revoke('alice').catch((err: unknown) => assert.fail(String(err)));
  assert.deepEqual(source.book.list(Date.now()).map((i) => i.name), ['admin', 'carol']);
  assert.throws(() => source.book.authenticate(token, Date.now()), { code: 'DETOUR_ERR_AUTH_BAD_TOKEN' });
  await assert.rejects(source.revoke('alice'), { code: 'DETOUR_ERR_TOKEN_NOT_FOUND' });
  assert.deepEqual(changes, [2, 3, 2]);
  await assert.rejects(AuthSource.singleToken('t'.repeat(20)).create({ name: 'x', role: 'agent' }), { code: 'DETOUR_ERR_TOKEN_NO_AUTH_FILE' });
});

test('the API with identities: sessions are named after the token, a developer cannot use an admin route, token routes answer JSON and never the hash', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'auth.yaml');
  const { source, createdAdminTokenFile } = await AuthSource.open({ authFile: file, logger: silent, reloadDebounceMs: 10_000 });
  t.after(() => source.close());
  const admin = { authorization: `Bearer ${(await readFile(createdAdminTokenFile!, 'utf8')).trim()}` };
  const manager = build({ auth: source });
  const created = await inject(manager.api, { method: 'POST', path: API_PATHS.tokens, headers: admin, body: { name: 'alice', role: 'developer' } });
  assert.equal(created.status, 201);
  const alice = { authorization: `Bearer ${(created.body as TokenCreated).token}` };
  assert.ok(!JSON.stringify(created.body).includes(tokenHash((created.body as TokenCreated).token)));

  const session = await inject(manager.api, { method: 'POST', path: API_PATHS.sessions, headers: alice, body: { name: 'mallory', clientId: 'client-1', headerValue: 'mallory-1' } });
  assert.equal(session.status, 201);
  assert.equal((session.body as { session: { name: string } }).session.name, 'alice');

  const list = await inject(manager.api, { method: 'GET', path: API_PATHS.tokens, headers: alice });
  assert.equal(list.status, 403);
  assert.equal(codeOf(list), 'DETOUR_ERR_AUTH_FORBIDDEN');
  const bad = await inject(manager.api, { method: 'POST', path: API_PATHS.tokens, headers: admin, body: { name: 'Bob', role: 'developer' } });
  assert.equal(codeOf(bad), 'DETOUR_ERR_API_BAD_REQUEST');

  // Revoking ends alice's session at once (its audit line comes first: the revocation is recorded once done).
  assert.equal((await inject(manager.api, { method: 'DELETE', path: API_PATHS.token('alice'), headers: admin })).status, 204);
  assert.deepEqual(manager.context.state.sessions(), []);
  assert.equal(codeOf(await inject(manager.api, { method: 'GET', path: API_PATHS.services, headers: alice })), 'DETOUR_ERR_AUTH_BAD_TOKEN');
  const audit = manager.context.audit.since(0).map((entry) => `${entry.who} ${entry.action} ${entry.outcome}`);
  assert.deepEqual(audit, ['admin token.create ok', 'alice session.open ok', 'alice auth.refused refused', 'alice session.end ok', 'admin token.revoke ok', 'unknown auth.refused refused']);
});

test('an identity that expires loses its open session at the next expiry check, with an audit line', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'auth.yaml');
  const expiresAt = Date.now() + 60_000;
  await writeFile(file, ['identities:', '  - name: brief', '    role: developer', `    tokenSha256: ${tokenHash('dtr_brief')}`, `    expiresAt: ${new Date(expiresAt).toISOString()}`, ''].join('\n'));
  const { source } = await AuthSource.open({ authFile: file, logger: silent, reloadDebounceMs: 10_000 });
  t.after(() => source.close());
  const manager = build({ auth: source });
  const opened = await inject(manager.api, { method: 'POST', path: API_PATHS.sessions, headers: { authorization: 'Bearer dtr_brief' }, body: { name: 'brief', clientId: 'client-b', headerValue: 'brief-1' } });
  assert.equal(opened.status, 201);
  // What the lease-expiry loop runs (four times a lease, at most every second): before the expiry nothing ends, after it the session does.
  endRevoked(manager.context, expiresAt - 1);
  assert.equal(manager.context.state.sessions().length, 1);
  endRevoked(manager.context, expiresAt + 1);
  assert.deepEqual(manager.context.state.sessions(), []);
  const [entry] = manager.context.audit.since(0).filter((e) => e.action === 'session.end');
  assert.deepEqual([entry?.who, entry?.details?.reason], ['brief', 'identity revoked or expired']);
});
