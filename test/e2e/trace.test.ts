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
const GRPC_CHAIN_APP = `${REPO_ROOT}test/e2e/support/grpc-chain-app.mjs`;
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
    // Exit 3 (docs/errors.md): a CI job running `detour trace` fails here.
    assert.equal(result.code, 3, result.stderr);
    const [verdict] = result.stdout.split('\n');
    assert.equal(verdict, 'shop ✔ → cart ✔ → stock ✔ → ledger ✘ (header dropped by stock)');
  });

  await t.test('--output json gives the same data', async () => {
    const result = await trace(developer, ['shop', '--path', '/checkout?x=1', '--header', 'x-telepresence-id', '--output', 'json']);
    assert.equal(result.code, 3, result.stderr);
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

/**
 * Starts `names` as a chain whose first hop answers HTTP/1.1 (the probe is a GET)
 * and calls the next over gRPC (h2c), as do all the others.
 */
async function grpcChain(env: Environment, names: string[], withoutPreload: ReadonlySet<string> = new Set()): Promise<void> {
  let next: string | undefined;
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i]!;
    const preload = withoutPreload.has(name) ? [] : ['--import', PRELOAD];
    const front = i === 0 ? ['--front', 'http'] : [];
    const app = await env.app(name, [...preload, GRPC_CHAIN_APP, '--name', name, ...front, ...(next === undefined ? [] : ['--next', next])]);
    next = new URL((await env.agent(name, app.url)).url).host;
  }
}

test('detour trace follows gRPC (h2c) hops and exits 3 when one dropped the header', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  // Every hop after the first is a gRPC server called over h2c through its agent; in the second chain `g-stock` runs without the preload.
  await Promise.all([grpcChain(env, ['g-web', 'g-api', 'g-quote']), grpcChain(env, ['g-shop', 'g-stock', 'g-ledger'], new Set(['g-stock']))]);
  const developer = await env.developer('alice');

  await t.test('the header crossed every gRPC hop: exit 0', async () => {
    const result = await trace(developer, ['g-web']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.split('\n')[0], 'g-web ✔ → g-api ✔ → g-quote ✔ (header propagated through 3 services)');
  });

  await t.test('a gRPC hop dropped it: exit 3, and the output names the hop', async () => {
    const result = await trace(developer, ['g-shop', '--output', 'json']);
    assert.equal(result.code, 3, result.stderr);
    const parsed = TraceResultSchema.parse(JSON.parse(result.stdout));
    assert.equal(parsed.outcome, 'dropped');
    assert.deepEqual(
      parsed.hops.map((h) => [h.service, h.headerSeen, h.droppedBy ?? null]),
      [
        ['g-shop', true, null],
        ['g-stock', true, null],
        ['g-ledger', false, 'g-stock'],
      ],
    );
    // A gRPC hop is reported by its method path.
    assert.equal(parsed.hops[1]!.path, '/detour.test.Echo/Unary');
    const text = await trace(developer, ['g-shop']);
    assert.equal(text.code, 3, text.stderr);
    assert.equal(text.stdout.split('\n')[0], 'g-shop ✔ → g-stock ✔ → g-ledger ✘ (header dropped by g-stock)');
  });
});
