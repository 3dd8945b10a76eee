import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { DetourError } from '@detour/core';
import { RELAY_HEADER_OFFLINE } from '@detour/protocol';
import { respondStreamError } from '@detour/transport';
import { Developer, agentWatching, spliceTo, startTestManager } from './control-plane.js';
import { RawClient, TOKEN, agentFor, echoHandler, json, startApp } from './helpers.js';

// `/metrics` of a real agent and of the real manager it watches, after a known
// mix of requests: every counter must show exactly that mix. The sessions are
// the test's own (control-plane.ts Developer): it needs developers offline on
// purpose and one whose tunnel refuses, which a real daemon does not do.

/** The samples of a Prometheus text exposition, keyed by `name{labels}` exactly as written. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*"';
const SAMPLE_LINE = new RegExp(`^${NAME}(\\{${LABEL}(,${LABEL})*\\})? (-?[0-9.e+-]+|[+-]Inf|NaN)$`);

/**
 * The text format (Prometheus exposition 0.0.4) line by line, detour's naming
 * conventions (prefix, `_total` on counters, a unit on histograms), and none
 * of `forbidden` (header values, tokens) anywhere in it.
 */
function checkExposition(text: string, component: 'agent' | 'manager', forbidden: readonly string[]): void {
  let ours = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary)$/.exec(line);
    if (type !== null) {
      const [, name, kind] = type;
      if (!name!.startsWith('detour_')) continue;
      ours += 1;
      assert.match(name!, new RegExp(`^detour_${component}_[a-z0-9_]+$`));
      if (kind === 'counter') assert.match(name!, /_total$/, `${name} is a counter`);
      else assert.doesNotMatch(name!, /_total$/, `${name} is not a counter`);
      if (kind === 'histogram') assert.match(name!, /_(seconds|bytes)$/, `${name} needs its unit`);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    assert.match(line, SAMPLE_LINE);
  }
  assert.ok(ours >= 6, `${ours} detour metrics`);
  for (const value of forbidden) assert.ok(!text.includes(value), `${JSON.stringify(value)} appears in /metrics`);
}

async function scrape(url: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** A request answered over HTTP/2 with headers beyond maxHeaderBytes: 431 from the gateway. */
async function h2TooLarge(port: number): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    const stream = session.request({ ':path': '/big', 'x-big': 'b'.repeat(2_000) });
    stream.end();
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    stream.resume();
    return Number(headers[':status']);
  } finally {
    session.destroy();
  }
}

test('agent and manager /metrics count exactly the requests sent: unmatched, matched, fallback, offline, refused, malformed', async (t) => {
  const app = await startApp(t, echoHandler('app'));
  const laptop = await startApp(t, echoHandler('laptop'));
  const manager = await startTestManager(t);
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: manager.url, metricsPort: 0, maxHeaderBytes: 1024, headerTimeoutMs: 400 });
  await agentWatching(manager, agent.id);
  assert.ok(agent.metricsAddress !== undefined);
  const metricsUrl = `http://127.0.0.1:${agent.metricsAddress.port}/metrics`;

  // Tunnels first, so that each intercept below is exactly one push to acknowledge.
  const alice = await Developer.join(manager, 'alice');
  await alice.openTunnel(t, spliceTo(laptop.port));
  const dave = await Developer.join(manager, 'dave');
  // As the daemon answers for an intercept it no longer holds: the agent applies the offline policy after all.
  await dave.openTunnel(t, (stream) => respondStreamError(stream, new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', 'gone'), { [RELAY_HEADER_OFFLINE]: 'i-dave' }));
  const bob = await Developer.join(manager, 'bob');
  const carol = await Developer.join(manager, 'carol');
  await alice.intercept({ id: 'i-alice', name: 'alice-orders', localPort: laptop.port });
  await dave.intercept({ id: 'i-dave', name: 'dave-orders', localPort: laptop.port });
  await bob.intercept({ id: 'i-bob', name: 'bob-orders', onDisconnect: 'fallback', localPort: 3000 });
  await carol.intercept({ id: 'i-carol', name: 'carol-orders', onDisconnect: 'fail', localPort: 3000 });

  const secret = 'Bearer s3cret-caller-credential';
  const client = await RawClient.connect(t, agent.address.port);
  const tags: unknown[] = [];
  for (const who of [undefined, undefined, undefined, 'alice', 'alice', 'bob', 'dave']) {
    client.send(`GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: ${secret}\r\n${who === undefined ? '' : `X-Telepresence-Id: ${who}\r\n`}\r\n`);
    tags.push(json(await client.response()).tag);
  }
  assert.deepEqual(tags, ['app', 'app', 'app', 'laptop', 'laptop', 'app', 'app']);
  // The offline answer closes its connection; `client` stays open for the connections gauge.
  const offline = await RawClient.connect(t, agent.address.port);
  offline.send('GET /x HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: carol\r\n\r\n');
  assert.equal((await offline.response()).status, 503);

  const malformed = await RawClient.connect(t, agent.address.port);
  malformed.send('GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n');
  assert.equal((await malformed.response()).status, 400);
  const large = await RawClient.connect(t, agent.address.port);
  large.send(`GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(2_000)}\r\n\r\n`);
  assert.equal((await large.response()).status, 431);
  const slow = await RawClient.connect(t, agent.address.port);
  slow.send('GET / HTTP/1.1\r\nHost: h\r\n');
  assert.equal((await slow.response()).status, 408);
  assert.equal(await h2TooLarge(agent.address.port), 431);

  const scraped = await scrape(metricsUrl);
  assert.equal(scraped.status, 200);
  assert.match(scraped.type ?? '', /^text\/plain; version=0\.0\.4/);
  checkExposition(scraped.text, 'agent', [secret, 's3cret', TOKEN]);
  const got = samples(scraped.text);
  const counts = (names: string[]) => names.map((name) => got.get(name));
  assert.deepEqual(
    counts(['route="app"', 'route="intercept"', 'route="fallback"', 'route="offline"'].map((l) => `detour_agent_requests_total{${l}}`)),
    [3, 3, 1, 1],
    'dave was routed to his intercept; its refusal is counted apart',
  );
  assert.deepEqual(counts(['route="fallback"', 'route="offline"'].map((l) => `detour_agent_relay_refusals_total{${l}}`)), [1, 0]);
  assert.deepEqual(
    counts(['DETOUR_ERR_AGENT_BAD_REQUEST', 'DETOUR_ERR_AGENT_HEAD_TIMEOUT', 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE'].map((c) => `detour_agent_rejected_requests_total{code="${c}"}`)),
    [1, 1, 2],
    'the 431 over HTTP/2 too',
  );
  // To the app: the 3 unmatched, bob's fallback and dave's refused one; to a developer: alice's two. The 503 is no latency.
  assert.deepEqual(counts(['destination="app"', 'destination="developer"'].map((l) => `detour_agent_request_duration_seconds_count{${l}}`)), [5, 2]);
  assert.equal(got.get('detour_agent_request_duration_seconds_bucket{destination="app",le="+Inf"}'), 5);
  assert.ok(got.get('detour_agent_request_duration_seconds_bucket{destination="app",le="10"}')! <= 5);
  assert.ok(got.get('detour_agent_request_duration_seconds_sum{destination="developer"}')! > 0);
  assert.equal(got.get('detour_agent_manager_connected'), 1);
  assert.ok(got.get('detour_agent_rule_set_version')! > 0);
  assert.ok(got.get('detour_agent_open_connections')! >= 1, 'the keep-alive client is still connected');
  assert.ok(got.has('process_cpu_user_seconds_total'), "prom-client's process metrics come with the listener");

  const refused = await scrape(`${manager.url}/metrics`);
  assert.equal(refused.status, 401);
  assert.equal((JSON.parse(refused.text) as { error: { code: string } }).error.code, 'DETOUR_ERR_AUTH_MISSING_TOKEN');
  const managed = await scrape(`${manager.url}/metrics`, TOKEN);
  assert.equal(managed.status, 200);
  // Developer.join uses the name as the header value, so only the ids and the token can be checked for here.
  checkExposition(managed.text, 'manager', [TOKEN, 'i-alice', 'i-dave']);
  const m = samples(managed.text);
  assert.equal(m.get('detour_manager_sessions'), 4);
  assert.deepEqual(['alice', 'dave', 'bob', 'carol'].map((d) => m.get(`detour_manager_tunnel_connected{developer="${d}"}`)), [1, 1, 0, 0]);
  assert.deepEqual([m.get('detour_manager_intercepts{service="orders",state="online"}'), m.get('detour_manager_intercepts{service="orders",state="offline"}')], [2, 2]);
  assert.equal(m.get('detour_manager_agents{service="orders"}'), 1);
  assert.ok(m.get('detour_manager_rule_set_version{service="orders"}')! > 0);
  assert.equal(m.get('detour_manager_rule_push_duration_seconds_count'), 4, 'one push per intercept, each acknowledged by the agent');
  assert.equal(m.get('detour_manager_api_requests_total{method="POST",route="/v1/intercepts",status="201"}'), 4);
  assert.equal(m.get('detour_manager_api_requests_total{method="GET",route="/metrics",status="401"}'), 1);
});

test('without metricsPort no listener runs, and the counts are kept all the same', async (t) => {
  const app = await startApp(t, echoHandler('app'));
  const manager = await startTestManager(t);
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: manager.url });
  assert.equal(agent.metricsAddress, undefined);
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
  const got = samples(await agent.metrics());
  assert.equal(got.get('detour_agent_requests_total{route="app"}'), 1);
  assert.equal(got.has('process_cpu_user_seconds_total'), false, 'no process metrics (and their GC observer) without a scrape listener');
});
