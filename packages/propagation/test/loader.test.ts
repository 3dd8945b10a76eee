// Loading modes, egress allowlist, app-set headers, composition with an app's
// own propagator, counters, and the strict self-check: each in a real process.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { FIXTURES, IMPORT, REQUIRE, runToExit, startService } from './process-helpers.js';

type Headers = Record<string, string[]>;
interface Relayed { http: Headers; fetch: Headers }

/** A sink in the test process that answers with the headers it received. */
async function startSink(t: TestContext): Promise<number> {
  const sink = createServer((req, res) => res.end(JSON.stringify(req.headersDistinct)));
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    sink.closeAllConnections();
    sink.close(() => resolve());
  }));
  return (sink.address() as AddressInfo).port;
}

async function relay(port: number, route: string, headers: Record<string, string> = {}): Promise<Relayed> {
  const res = await fetch(`http://127.0.0.1:${port}${route}`, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Relayed;
}

const MATRIX: ReadonlyArray<{ name: string; fixture: string; flags: readonly string[]; env?: Record<string, string> }> = [
  { name: 'CommonJS app with --require', fixture: 'relay.js', flags: REQUIRE },
  { name: 'CommonJS app with --import', fixture: 'relay.js', flags: IMPORT },
  { name: 'ESM app with --require (eager http require)', fixture: 'relay-esm.mjs', flags: REQUIRE },
  { name: 'ESM app with --import', fixture: 'relay-esm.mjs', flags: IMPORT },
  { name: 'ESM app with NODE_OPTIONS=--import', fixture: 'relay-esm.mjs', flags: [], env: { NODE_OPTIONS: IMPORT.join(' ') } },
];

for (const mode of MATRIX) {
  test(`loads as ${mode.name} and carries the header on http and fetch`, { timeout: 60_000 }, async (t) => {
    const sinkPort = await startSink(t);
    const app = await startService(t, mode.fixture, mode.flags, { SINK_PORT: String(sinkPort), ...mode.env });
    const seen = await relay(app.ports['http'] ?? 0, '/forward', { 'x-telepresence-id': 'carol' });
    assert.deepEqual(seen.http['x-telepresence-id'], ['carol']);
    assert.deepEqual(seen.fetch['x-telepresence-id'], ['carol']);
  });
}

test('external hosts never receive the header; cluster names do; counters say so', { timeout: 60_000 }, async (t) => {
  const sinkPort = await startSink(t);
  const app = await startService(t, 'relay-esm.mjs', IMPORT, { SINK_PORT: String(sinkPort) });
  const port = app.ports['http'] ?? 0;
  const external = await relay(port, '/external', { 'x-telepresence-id': 'dave' });
  assert.equal(external.http['host']?.[0], `api.example.com:${sinkPort}`, 'the request really went to the external name');
  assert.equal(external.http['x-telepresence-id'], undefined);
  assert.equal(external.fetch['x-telepresence-id'], undefined);
  const internal = await relay(port, '/cluster-name', { 'x-telepresence-id': 'dave' });
  assert.deepEqual(internal.http['x-telepresence-id'], ['dave']);
  assert.deepEqual(internal.fetch['x-telepresence-id'], ['dave']);
  const stats = (await (await fetch(`http://127.0.0.1:${port}/stats`)).json()) as Record<string, number>;
  assert.deepEqual(stats, { receivedHeaders: 2, propagatedHeaders: 2, droppedHeaders: 2, appSetHeaders: 0 });
});

test('a header the app set itself is sent once, with the app\'s value, on http and fetch', { timeout: 60_000 }, async (t) => {
  const sinkPort = await startSink(t);
  const app = await startService(t, 'relay-esm.mjs', IMPORT, { SINK_PORT: String(sinkPort) });
  const seen = await relay(app.ports['http'] ?? 0, '/app-set', { 'x-telepresence-id': 'erin' });
  assert.deepEqual(seen.http['x-telepresence-id'], ['manual']);
  assert.deepEqual(seen.fetch['x-telepresence-id'], ['manual']);
});

for (const order of ['before', 'after'] as const) {
  test(`composes with an app propagator registered ${order} the preload`, { timeout: 60_000 }, async (t) => {
    const sinkPort = await startSink(t);
    const flags = order === 'before' ? ['--require', path.join(FIXTURES, 'app-otel.js'), ...IMPORT] : IMPORT;
    const app = await startService(t, 'relay-esm.mjs', flags, { SINK_PORT: String(sinkPort), APP_OTEL: order });
    const seen = await relay(app.ports['http'] ?? 0, '/forward', {
      'x-telepresence-id': 'frank',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    for (const client of ['http', 'fetch'] as const) {
      assert.deepEqual(seen[client]['x-telepresence-id'], ['frank'], client);
      assert.deepEqual(seen[client]['x-app-propagator'], ['yes'], `${client}: the app's propagator still runs`);
      assert.equal(seen[client]['traceparent']?.length, 1, `${client}: one traceparent`);
    }
  });
}

test('strict self-check stops a service whose propagator was removed', { timeout: 60_000 }, async () => {
  const { code, stderr } = await runToExit('break-propagator.js', REQUIRE, { DETOUR_PROPAGATION_SELF_TEST: 'strict' });
  assert.equal(code, 1);
  assert.match(stderr, /self-check failed: .*does not carry x-telepresence-id/);
});

test('invalid settings leave the app running with a warning, and stop it only in strict mode', { timeout: 60_000 }, async (t) => {
  const sinkPort = await startSink(t);
  const app = await startService(t, 'relay.js', REQUIRE, { SINK_PORT: String(sinkPort), DETOUR_PROPAGATE_HEADERS: 'Bad Header' });
  const seen = await relay(app.ports['http'] ?? 0, '/forward', { 'x-telepresence-id': 'gina' });
  assert.equal(seen.http['x-telepresence-id'], undefined, 'propagation is off');
  assert.match(app.stderr(), /DETOUR_PROPAGATION.*propagation is off: .*headers: "bad header" is not usable/);

  const strict = await runToExit('break-propagator.js', REQUIRE, { DETOUR_PROPAGATE_HEADERS: 'Bad Header', DETOUR_PROPAGATION_SELF_TEST: 'strict' });
  assert.equal(strict.code, 2);
  assert.match(strict.stderr, /headers: "bad header" is not usable/);
});
