import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Environment } from './support/environment.js';

// The command run under `intercept -- …`: it calls the service through the agent
// with the header it was given, prints who answered, and exits with a chosen code
// (or kills itself with a chosen signal).
const SCRIPT = `
const [name, value] = process.env.DETOUR_HEADER.split('=');
const res = await fetch(process.argv[1], { headers: { [name]: value } });
const body = await res.json();
console.log('answered-by=' + body.app + ' id=' + process.env.DETOUR_INTERCEPT_ID);
if (process.argv[2] === 'signal') process.kill(process.pid, 'SIGTERM');
else process.exitCode = Number(process.argv[2]);
`;

test('intercept -- COMMAND: the intercept lives as long as the command; exit code and signal pass through', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const agentUrl = api.agentUrls[0]!;
  const run = (last: string) =>
    alice.cli(['intercept', 'api', '--port', String(alice.localPort), '--', process.execPath, '--input-type=module', '-e', SCRIPT, agentUrl, last]);

  const exited = await run('7');
  assert.equal(exited.code, 7, exited.stderr);
  assert.match(exited.stdout, /answered-by=alice-laptop id=[0-9a-f-]{36}/);
  assert.match(exited.stderr, /Left intercept api/);
  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { intercepts: unknown[] };
  assert.deepEqual(status.intercepts, [], 'the intercept ended with the command');

  const killed = await run('signal');
  assert.equal(killed.signal, 'SIGTERM', killed.stderr);
  assert.match(killed.stdout, /answered-by=alice-laptop/);
  const after = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { intercepts: unknown[] };
  assert.deepEqual(after.intercepts, []);
});
