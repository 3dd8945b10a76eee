// Issue 13, identities and roles: real manager, agents and daemons on 127.0.0.1, each
// with its own token from an --auth-file, driven through the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import type { AuditList, ServiceList } from '@detour/protocol';
import { Environment, answeredBy } from './support/environment.js';
import type { Developer, TestIdentity } from './support/environment.js';
import { DETOUR_BIN, eventually, runCli, startProcess, stopProcess } from './support/processes.js';

const IDENTITIES: TestIdentity[] = [
  { name: 'alice', role: 'developer', policy: { services: ['api'] } },
  { name: 'bob', role: 'developer' },
  { name: 'ops', role: 'admin' },
  { name: 'edge', role: 'agent' },
];

/** The manager logs everything it can, so the leak check sees the most. */
const DEBUG = { DETOUR_LOG_LEVEL: 'debug' };

/** A refusal as the CLI must print it: one line on stderr, exit 2. */
function assertRefused(result: { code: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  assert.match(result.stderr, pattern);
}

async function tokensOf(env: Environment, names: string[]): Promise<string[]> {
  return Promise.all(names.map(async (name) => (await readFile(env.tokenFileOf(name), 'utf8')).trim()));
}

/**
 * No token may appear in any log, audit line or error the suite's processes wrote (issue 13,
 * bad input). `Environment.close()` checks every environment's own tokens the same way; this
 * also covers tokens made during the test (`detour token create`) and says which log.
 */
async function assertNoTokenInLogs(env: Environment, tokens: string[]): Promise<void> {
  const logs = await env.logs();
  assert.ok(logs.some((log) => log.what === 'manager' && log.text.includes('"msg":"session opened"')), 'the manager logged at debug level');
  for (const token of tokens) {
    for (const log of logs) assert.ok(!log.text.includes(token), `a token appears in the ${log.what}`);
  }
}

async function auditOf(admin: Developer): Promise<AuditList> {
  const result = await admin.cli(['audit', '--since', '1h', '--output', 'json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as AuditList;
}

test('two developers and an agent with their own tokens: owner is the identity, roles and policy are enforced, an admin can act on anyone, every action is audited', async (t) => {
  const env = await Environment.create({ identities: IDENTITIES, managerEnv: DEBUG });
  t.after(() => env.close());
  const api = await env.service('api');
  await env.service('quote');

  // Alice connects with someone else's --name: the manager names her session after her token.
  const alice = await env.developer('mallory', undefined, env.tokenFileOf('alice'));
  const bob = await env.developer('bob');
  const [header, aliceValue] = await alice.interceptHeader('api');
  assert.equal(await answeredBy(api.agentUrls[0]!, { [header]: aliceValue }), 'mallory-laptop');
  const list = JSON.parse((await bob.cli(['list', '--output', 'json'])).stdout) as ServiceList;
  assert.deepEqual(list.services.find((s) => s.name === 'api')?.intercepts.map((i) => i.owner.name), ['alice']);
  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { name: string; header: { value: string } };
  assert.equal(status.name, 'alice');
  // Her routing key carries her name too, not the one she typed.
  assert.match(aliceValue, /^alice-[0-9a-f]{6}$/);
  assert.equal(status.header.value, aliceValue);

  // Conflicts name the identity too.
  assertRefused(await bob.cli(['intercept', 'api', '--port', String(bob.localPort), '--http-header', `${header}=${aliceValue}`]), /alice already intercepts api/);

  // Policy: alice may intercept only api; the refusal names the rule and who can change it.
  assertRefused(await alice.cli(['intercept', 'quote', '--port', String(alice.localPort)]), /alice may not intercept quote: allowed api \(policy rule services\); an admin can change it/);
  // Bob has no list: he may intercept quote.
  await bob.intercept('quote');

  // A developer cannot leave another's intercept; the refusal does not say whether it exists.
  assertRefused(await bob.cli(['leave', 'api', '--owner', 'alice']), /bob may not leave the intercept api of alice: only its owner or an admin may/);
  assertRefused(await bob.cli(['leave', 'nothing', '--owner', 'nobody-at-all']), /bob may not leave the intercept nothing of nobody-at-all/);
  assert.equal((await env.intercepts('api')).length, 1);

  // A developer's token cannot run an agent; an agent's cannot open a session.
  const app = await env.app('api-2');
  const rogue = await env.agent('api', app.url, ['--token-file', env.tokenFileOf('alice')]);
  await eventually('the rogue agent is refused', async () => (/may not act as an agent/.test(rogue.stderr()) ? true : undefined));
  const services = JSON.parse((await bob.cli(['list', '--output', 'json'])).stdout) as ServiceList;
  assert.equal(services.services.find((s) => s.name === 'api')?.agents.length, 1, 'only the real agent serves api');
  const agentHome = join(env.dir, 'home-edge');
  assertRefused(await runCli(['connect', '--manager', env.managerUrl, '--token-file', env.tokenFileOf('edge'), '--name', 'edge'], { DETOUR_HOME: agentHome }), /edge \(role agent\) may not open sessions and intercepts: that needs the role admin or developer/);

  // The API answers the same refusals as JSON: 403 naming the permission, 401 naming nobody.
  const [aliceToken] = await tokensOf(env, ['alice']);
  const ack = await request(`${env.managerUrl}/v1/agents/a1/ack`, { method: 'POST', headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json' }, body: '{"version":1}' });
  assert.equal(ack.statusCode, 403);
  const forbidden = (await ack.body.json()) as { error: { code: string; message: string; details: { permission: string } } };
  assert.equal(forbidden.error.code, 'DETOUR_ERR_AUTH_FORBIDDEN');
  assert.equal(forbidden.error.details.permission, 'serve');
  for (const wrong of [`${aliceToken}x`, 'dtr_not-a-token-anyone-has']) {
    const answer = await request(`${env.managerUrl}/v1/services`, { headers: { authorization: `Bearer ${wrong}` } });
    assert.equal(answer.statusCode, 401);
    assert.deepEqual(await answer.body.json(), { error: { code: 'DETOUR_ERR_AUTH_BAD_TOKEN', message: 'the bearer token is wrong, revoked or expired; ask an admin for a new one (`detour token create`)' } });
  }

  // The audit log is for admins.
  assertRefused(await bob.cli(['audit']), /bob \(role developer\) may not manage tokens and read the audit log/);

  // An admin ends anyone's intercept.
  const ops = await env.developer('ops');
  const left = await ops.cli(['leave', 'api', '--owner', 'alice']);
  assert.equal(left.code, 0, left.stderr);
  assert.match(left.stdout, /Ended alice's intercept api/);
  assert.deepEqual(await env.intercepts('api'), []);
  assert.equal(await answeredBy(api.agentUrls[0]!, { [header]: aliceValue }), 'api');

  // One audit line per action, with who, what, when and from where.
  const { entries } = await auditOf(ops);
  const seen = (who: string, action: string, outcome = 'ok') => entries.find((e) => e.who === who && e.action === action && e.outcome === outcome);
  for (const who of ['alice', 'bob', 'ops']) assert.ok(seen(who, 'session.open'), `${who} opened a session`);
  assert.equal(seen('alice', 'intercept.create')?.details?.service, 'api');
  assert.equal(seen('bob', 'intercept.create')?.details?.service, 'quote');
  assert.equal(seen('alice', 'auth.refused', 'refused')?.details?.rule, 'services');
  assert.equal(seen('bob', 'auth.refused', 'refused')?.details?.rule, 'owner');
  assert.equal(seen('alice', 'auth.refused', 'refused')?.details?.endpoint !== undefined, true);
  assert.ok(entries.some((e) => e.who === 'alice' && e.action === 'auth.refused' && e.details?.permission === 'serve'), 'the rogue agent');
  assert.ok(entries.some((e) => e.who === 'unknown' && e.details?.code === 'DETOUR_ERR_AUTH_BAD_TOKEN'), 'the wrong tokens');
  const removal = seen('ops', 'intercept.remove');
  assert.equal(removal?.details?.owner, 'alice');
  assert.equal(removal?.from, '127.0.0.1');
  assert.ok(Number.isFinite(Date.parse(removal?.time ?? '')));
  // The file holds the same lines, one JSON object each.
  const lines = (await readFile(env.auditFile!, 'utf8')).trim().split('\n');
  assert.ok(lines.length >= entries.length);
  for (const line of lines) JSON.parse(line);

  await alice.cli(['quit']);
  await assertNoTokenInLogs(env, await tokensOf(env, IDENTITIES.map((i) => i.name)));
});

test('token create, list and revoke through the CLI; a revoked developer loses an open session within a lease; a reload with errors keeps the identities, a good one takes effect', async (t) => {
  const leaseMs = 3_000;
  const env = await Environment.create({ identities: [{ name: 'ops', role: 'admin' }, { name: 'edge', role: 'agent' }], managerArgs: ['--lease-ms', String(leaseMs)], managerEnv: DEBUG });
  t.after(() => env.close());
  const api = await env.service('api');
  const ops = await env.developer('ops');

  assertRefused(await ops.cli(['token', 'create', 'Carol', '--role', 'developer']), /bad name "Carol"/);
  assertRefused(await ops.cli(['token', 'create', 'carol', '--role', 'wizard']), /bad --role "wizard": use admin, developer, agent/);
  assertRefused(await ops.cli(['token', 'create', 'carol', '--role', 'developer', '--expires', 'soon']), /bad --expires "soon"/);
  const created = await ops.cli(['token', 'create', 'carol', '--role', 'developer', '--services', 'api', '--expires', '30d']);
  assert.equal(created.code, 0, created.stderr);
  const carolToken = created.stdout.trim().split('\n')[1]!;
  assert.match(carolToken, /^dtr_[A-Za-z0-9_-]{43}$/);
  assertRefused(await ops.cli(['token', 'create', 'carol', '--role', 'developer']), /an identity named carol exists; revoke it first/);
  const tokenList = await ops.cli(['token', 'list']);
  assert.match(tokenList.stdout, /^carol\s+developer\s+api\s+20\d\d-/m);
  assert.ok(!tokenList.stdout.includes(carolToken));
  // The file holds the hash only.
  assert.ok(!(await readFile(env.authFile!, 'utf8')).includes(carolToken));

  await writeFile(env.tokenFileOf('carol'), `${carolToken}\n`, { mode: 0o600 });
  const carol = await env.developer('carol');
  const [header, value] = await carol.interceptHeader('api');
  assert.equal(await answeredBy(api.agentUrls[0]!, { [header]: value }), 'carol-laptop');

  const revoked = await ops.cli(['token', 'revoke', 'carol']);
  assert.equal(revoked.code, 0, revoked.stderr);
  assertRefused(await ops.cli(['token', 'revoke', 'carol']), /no identity named carol/);
  // Her open session ends (at once on the revocation; the bound is one lease), and her requests go to the app.
  await eventually('carol loses her intercept', async () => ((await env.intercepts('api')).length === 0 ? true : undefined), leaseMs);
  assert.equal(await answeredBy(api.agentUrls[0]!, { [header]: value }), 'api');
  assertRefused(await carol.cli(['intercept', 'api', '--port', String(carol.localPort)]), /not connected|wrong, revoked or expired/);

  // Revoking an agent's identity closes its link: the service loses the agent, which is refused from then on.
  const agentToken = (await ops.cli(['token', 'create', 'quote-agents', '--role', 'agent', '--output', 'json'])).stdout;
  await writeFile(env.tokenFileOf('quote-agents'), `${(JSON.parse(agentToken) as { token: string }).token}\n`, { mode: 0o600 });
  const quote = await env.app('quote');
  const quoteAgent = await env.agent('quote', quote.url, ['--token-file', env.tokenFileOf('quote-agents')]);
  const agentsOf = async (service: string) => (JSON.parse((await ops.cli(['list', '--output', 'json'])).stdout) as ServiceList).services.find((s) => s.name === service)?.agents.length ?? 0;
  await eventually('the quote agent is connected', async () => ((await agentsOf('quote')) === 1 ? true : undefined));
  assert.equal((await ops.cli(['token', 'revoke', 'quote-agents'])).code, 0);
  await eventually('the quote agent is gone', async () => ((await agentsOf('quote')) === 0 ? true : undefined));
  await eventually('the quote agent is refused', async () => (/refused the agent token/.test(quoteAgent.stderr()) ? true : undefined));

  // A reload with errors keeps the previous identities and says why in the manager's log.
  const good = await readFile(env.authFile!, 'utf8');
  await writeFile(env.authFile!, `${good}\n  - name: broken\n    role: wizard\n`);
  await eventually('the manager logs the failed reload', async () => ((await env.logs()).find((l) => l.what === 'manager')?.text.includes('auth file reload failed') === true ? true : undefined));
  assert.equal((await ops.cli(['token', 'list'])).code, 0, 'ops still works');

  // A good file takes effect: dave, added by hand (only his token's hash), can connect.
  const daveToken = 'dtr_dave-token-written-by-hand-0123456789abcdefghijk';
  const { createHash } = await import('node:crypto');
  await writeFile(env.authFile!, `${good}  - name: dave\n    role: developer\n    tokenSha256: ${createHash('sha256').update(daveToken).digest('hex')}\n`);
  await writeFile(env.tokenFileOf('dave'), `${daveToken}\n`, { mode: 0o600 });
  const dave = await eventually('dave can connect after the reload', async () => env.developer('dave').catch(() => undefined), 10_000, 200);
  assert.equal(JSON.parse((await dave.cli(['status', '--output', 'json'])).stdout).name, 'dave');

  const audit = (await auditOf(ops)).entries;
  assert.ok(audit.some((e) => e.who === 'ops' && e.action === 'token.create' && e.details?.name === 'carol'));
  assert.ok(audit.some((e) => e.who === 'ops' && e.action === 'token.revoke' && e.details?.name === 'carol'));
  assert.ok(audit.some((e) => e.who === 'carol' && e.action === 'session.end' && e.details?.reason === 'identity revoked or expired'));

  await assertNoTokenInLogs(env, [carolToken, daveToken, ...(await tokensOf(env, ['ops', 'edge', 'quote-agents']))]);
});

test('an auth file with errors stops the start-up, listing every problem with its line and field; single-token mode says what it is', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const file = join(env.dir, 'bad-auth.yaml');
  await writeFile(file, ['identities:', '  - name: alice', '    role: wizard', '    tokenSha256: dtr_a-token-pasted-by-mistake', '  - name: alice', '    role: developer', '    tokenSha256: ' + 'a'.repeat(64), '    colour: blue', ''].join('\n'));
  const result = await runCli(['manager', '--port', '0', '--auth-file', file], {});
  assertRefused(result, /has 4 problem\(s\): line 3: identities\[0\]\.role: .*; line 4: identities\[0\]\.tokenSha256: .*; line 5: identities\[1\]\.name: alice is also identities\[0\]: names are unique; line 8: identities\[1\]\.colour: unknown field/);
  assert.ok(!result.stderr.includes('dtr_a-token-pasted-by-mistake'), 'the message quotes no value');

  assertRefused(await runCli(['manager', '--port', '0'], {}), /give --auth-file FILE .* or --token-file FILE/);
  const single = await startProcess([DETOUR_BIN, 'manager', '--port', '0', '--token-file', join(env.dir, 'other-token')], /^(single-token mode: .*)$/);
  t.after(() => stopProcess(single.child));
  assert.match(single.value, /everyone with the token in .* may do everything, as any name; use --auth-file for per-user tokens/);
});

test('previews with identities: the owner is the identity, the embedded gateway serves with an in-process agent credential, creating and removing one are audited', async (t) => {
  const env = await Environment.create({ identities: [{ name: 'alice', role: 'developer' }, { name: 'ops', role: 'admin' }, { name: 'edge', role: 'agent' }], managerArgs: ['--preview-listen', '0'], managerEnv: DEBUG });
  t.after(() => env.close());
  const app = await env.app('web');
  await env.agent('web', app.url);
  const alice = await env.developer('mallory', undefined, env.tokenFileOf('alice'));
  await alice.intercept('web');
  const created = await alice.cli(['preview', 'create', 'web', '--output', 'json']);
  assert.equal(created.code, 0, created.stderr);
  const preview = JSON.parse(created.stdout) as { id: string; url: string; hint: string };
  // The gateway asks the manager for the route with its own credential and reaches alice's laptop.
  const url = new URL(preview.url);
  const answer = await request(`http://127.0.0.1:${url.port}/`, { headers: { host: url.host } });
  assert.equal(((await answer.body.json()) as { app: string }).app, 'mallory-laptop');
  // The gateway's credential is the manager's own: not listed, so not revocable or handed out.
  const ops = await env.developer('ops');
  const list = JSON.parse((await ops.cli(['token', 'list', '--output', 'json'])).stdout) as { identities: { name: string }[] };
  assert.deepEqual(list.identities.map((i) => i.name), ['alice', 'ops', 'edge']);
  // An agent's token may look up a preview route (a gateway of its own); a developer's may not.
  const [aliceToken, edgeToken] = await tokensOf(env, ['alice', 'edge']);
  const lookup = (token: string) => request(`${env.managerUrl}/v1/previews/${preview.id}/route`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await lookup(aliceToken!)).statusCode, 403);
  assert.equal((await lookup(edgeToken!)).statusCode, 200);

  assert.equal((await alice.cli(['preview', 'remove', preview.id])).code, 0);
  const { entries } = await auditOf(ops);
  const created1 = entries.find((e) => e.action === 'preview.create');
  assert.deepEqual([created1?.who, created1?.details?.service, created1?.details?.preview], ['alice', 'web', preview.hint]);
  assert.equal(entries.find((e) => e.action === 'preview.remove')?.who, 'alice');
  // Only the id's hint is ever written: the id is the visitor's secret.
  assert.ok(!JSON.stringify(entries).includes(preview.id));
  await assertNoTokenInLogs(env, [...(await tokensOf(env, ['alice', 'ops', 'edge'])), preview.id]);
});
