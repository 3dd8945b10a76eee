import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { TraceResultSchema } from '@detour/protocol';
import { Environment } from './support/environment.js';
import type { Developer } from './support/environment.js';
import { REPO_ROOT } from './support/processes.js';

// Issue #4, part 2: `detour trace` finds the hop that dropped the header.
// Every service is a real process: the demo's sample service (which does not
// forward the header by hand), loaded with @detour/propagation the way users
// load it, behind a real agent, with a real manager and daemon.

const SAMPLE_SERVICE = `${REPO_ROOT}demo/sample-service.mjs`;
const PRELOAD = pathToFileURL(createRequire(import.meta.url).resolve('@detour/propagation/register.mjs')).href;

/** Starts `names` as a chain (first calls second, …), back to front; returns the agent URL of the first. */
async function chain(env: Environment, names: string[], withoutPreload: ReadonlySet<string> = new Set()): Promise<string> {
  let next: string | undefined;
  for (const name of [...names].reverse()) {
    const preload = withoutPreload.has(name) ? [] : ['--import', PRELOAD];
    const app = await env.app(name, [...preload, SAMPLE_SERVICE, '--name', name, ...(next === undefined ? [] : ['--next', next])]);
    next = (await env.agent(name, app.url)).url;
  }
  return next!;
}

async function trace(developer: Developer, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return developer.cli(['trace', ...args]);
}

test('detour trace follows the probe through real services and names the hop that dropped the header', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  // Two chains on one manager: in the second, `stock` runs without the preload.
  await Promise.all([chain(env, ['web', 'api', 'quote', 'pricing']), chain(env, ['shop', 'cart', 'stock', 'ledger'], new Set(['stock']))]);
  const developer = await env.developer('alice');

  await t.test('every hop kept the header', async () => {
    const result = await trace(developer, ['web']);
    assert.equal(result.code, 0, result.stderr);
    const [verdict] = result.stdout.split('\n');
    assert.equal(verdict, 'web ✔ → api ✔ → quote ✔ → pricing ✔ (header propagated through 4 services)');
  });

  await t.test('a service without the preload: the trace names it', async () => {
    const result = await trace(developer, ['shop', '--path', '/checkout?x=1']);
    assert.equal(result.code, 0, result.stderr);
    const [verdict] = result.stdout.split('\n');
    assert.equal(verdict, 'shop ✔ → cart ✔ → stock ✔ → ledger ✘ (header dropped by stock)');
  });

  await t.test('--output json gives the same data', async () => {
    const result = await trace(developer, ['shop', '--path', '/checkout?x=1', '--header', 'x-telepresence-id', '--output', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const parsed = TraceResultSchema.parse(JSON.parse(result.stdout));
    assert.equal(parsed.outcome, 'dropped');
    assert.equal(parsed.header, 'x-telepresence-id');
    assert.match(parsed.value, /^detour-probe-[0-9a-f]+$/);
    assert.equal(parsed.probeStatus, 200);
    assert.deepEqual(
      parsed.hops.map((h) => [h.service, h.headerSeen, h.droppedBy ?? null]),
      [
        ['shop', true, null],
        ['cart', true, null],
        ['stock', true, null],
        ['ledger', false, 'stock'],
      ],
    );
    // The first hop is the request the manager sent: its path, without the query.
    assert.equal(parsed.hops[0]!.path, '/checkout');
    assert.ok(parsed.hops.every((h) => h.agentId.startsWith(`${h.service}-`)));
  });

  await t.test('a chosen value is sent as given', async () => {
    const result = await trace(developer, ['web', '--header', 'x-telepresence-id=alice-probe-1', '--output', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const parsed = TraceResultSchema.parse(JSON.parse(result.stdout));
    assert.equal(parsed.value, 'alice-probe-1');
    assert.equal(parsed.outcome, 'propagated');
  });

  await t.test('the last service of a chain: nothing past it was seen', async () => {
    const result = await trace(developer, ['pricing']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout.split('\n')[0]!, /^pricing ✔ \(no call from pricing to another service was seen: cannot tell whether it calls anything\)$/);
  });

  await t.test('mistakes: one line, exit 2', async () => {
    const unknown = await trace(developer, ['nope']);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'detour: no agent serves nope; known services: api, cart, ledger, pricing, quote, shop, stock, web\n');
    const badHeader = await trace(developer, ['web', '--header', 'x id=1']);
    assert.equal(badHeader.code, 2);
    assert.match(badHeader.stderr, /^detour: bad --header "x id=1": use NAME=VALUE or NAME, where NAME is a header name\n$/);
    const badPath = await trace(developer, ['web', '--path', 'nope']);
    assert.equal(badPath.code, 2);
    assert.match(badPath.stderr, /^detour: bad --path "nope": a path starts with "\/"\n$/);
  });
});
