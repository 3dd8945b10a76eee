import { test } from 'node:test';
import assert from 'node:assert/strict';
import type diagnostics from 'node:diagnostics_channel';
import type http from 'node:http';
import { DetourError } from '@detour/core';
import { RELAY_HEADER_OFFLINE } from '@detour/protocol';
import { respondStreamError } from '@detour/transport';
import { linkChannel, routeChannel } from '../src/index.js';
import type { LinkState, RouteEvent } from '../src/index.js';
import { Developer, Partition, agentWatching, spliceTo, startDaemon, startTestManager } from './control-plane.js';
import { RawClient, TOKEN, agentFor, echoHandler, field, json, startApp, until } from './helpers.js';

// The manager and the daemon are the real ones, in this process (control-plane.ts);
// the apps on both sides are real HTTP servers. Where a test writes the developer's
// end of the tunnel itself, it says why.

/** The developer's local app: answers 201 with what it got, so a response tells where the request went. */
async function laptopApp(t: Parameters<typeof agentFor>[0]) {
  const seen: http.IncomingMessage[] = [];
  let connections = 0;
  const laptop = await startApp(t, (req, res) => {
    seen.push(req);
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'text/plain', 'x-dev': 'alice' });
      res.end(`dev:${String(req.url)}:${Buffer.concat(parts).toString()}`);
    });
  });
  laptop.server.on('connection', () => (connections += 1));
  return { ...laptop, seen, connections: () => connections };
}

/** The app, the developer's laptop app, a real manager and an agent watching it (through a Partition if asked). */
async function setup(t: Parameters<typeof agentFor>[0], options: { partitioned?: boolean } = {}) {
  const app = await startApp(t, echoHandler('app'));
  const laptop = await laptopApp(t);
  const manager = await startTestManager(t);
  const partition = options.partitioned === true ? await Partition.start(t, manager) : undefined;
  // Quick reconnects: the link-loss test waits for one.
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: partition?.url ?? manager.url, reconnectInitialMs: 20, reconnectMaxMs: 100 });
  const watching = await agentWatching(manager, agent.id);
  return { app, laptop, manager, agent, watching, partition };
}

/** Collects this agent's events on a diagnostics channel for the rest of the test. */
function record<T extends { agentId: string }>(t: Parameters<typeof agentFor>[0], channel: diagnostics.Channel, agentId: string): T[] {
  const events: T[] = [];
  const listener = (message: unknown) => {
    if ((message as T).agentId === agentId) events.push(message as T);
  };
  channel.subscribe(listener);
  t.after(() => channel.unsubscribe(listener));
  return events;
}

interface LinkEvent {
  agentId: string;
  state: LinkState;
  previous: LinkState;
}

test('watch subscribes with service, agent id, listen address and protocol; acks every rule set', async (t) => {
  const { manager, agent, laptop, watching } = await setup(t);
  assert.deepEqual([watching.service, watching.listen, watching.protocol], ['orders', `127.0.0.1:${agent.address.port}`, 'auto']);
  const alice = await startDaemon(manager, 'alice');
  // The manager answers `intercept` only once every agent acknowledged the new rule set (else it fails after ackTimeoutMs).
  await alice.intercept({ name: 'first', localPort: laptop.port });
  const acked = (await manager.agents()).find((a) => a.id === agent.id)!.ackedVersion;
  assert.ok(acked > watching.ackedVersion, `acked ${acked} after ${watching.ackedVersion}`);
  await alice.intercept({ name: 'second', localPort: laptop.port, headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'alice-2' }] });
  assert.ok((await manager.agents()).find((a) => a.id === agent.id)!.ackedVersion > acked);
});

test('one keep-alive connection opened before the rule existed: each request routed on its own', async (t) => {
  const { manager, agent, laptop } = await setup(t);
  // This tunnel end is the test's, splicing like the daemon's: the test reads what the manager relayed to it.
  const alice = await Developer.join(manager, 'alice');
  await alice.openTunnel(t, spliceTo(laptop.port));
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET /before HTTP/1.1\r\nHost: orders\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');

  await alice.intercept({ id: 'i-alice', name: 'alice-orders', localPort: laptop.port });
  const requests = [
    ['alice', 'dev'],
    ['bob', 'app'],
    [undefined, 'app'],
    ['alice', 'dev'],
  ] as const;
  for (const [who, expected] of requests) {
    client.send(`POST /orders?x=1 HTTP/1.1\r\nHost: orders\r\nContent-Length: 2\r\n${who === undefined ? '' : `X-Telepresence-Id: ${who}\r\n`}\r\nhi`);
    const res = await client.response();
    if (expected === 'dev') {
      assert.equal(res.status, 201);
      assert.equal(res.body.toString(), 'dev:/orders?x=1:hi');
      assert.equal(field(res, 'x-dev'), 'alice');
    } else {
      assert.equal(json(res).tag, 'app');
    }
  }
  // Both of alice's requests rode one tunnel, opened once and kept alive like a connection to the app.
  assert.equal(alice.relayed.length, 1);
  assert.equal(laptop.connections(), 1);
  const tunnel = alice.relayed[0]!;
  assert.equal(tunnel[':method'], 'CONNECT');
  assert.equal(tunnel[':path'], undefined);
  assert.equal(tunnel['detour-intercept-id'], 'i-alice');
  assert.equal(tunnel.authorization, undefined, 'the manager token never rides on relay streams');
  assert.equal(laptop.seen.length, 2);
  assert.equal(laptop.seen[0]!.method, 'POST');
  assert.equal(laptop.seen[0]!.headers.host, 'orders');
  assert.equal(laptop.seen[0]!.headers['x-telepresence-id'], 'alice');
});

test('a header repeated several times matches if any value matches; path matchers see no query', async (t) => {
  const { manager, agent, laptop } = await setup(t);
  const alice = await startDaemon(manager, 'alice');
  await alice.intercept({ name: 'api-only', paths: [{ op: 'prefix', value: '/api/' }], localPort: laptop.port });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET /api/x?y=/z HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: bob\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal((await client.response()).status, 201);
  client.send('GET /web?/api/ HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
});

test('matched: a chunked body with extensions and trailers reaches the local app as sent; its trailers and 100 Continue come back', async (t) => {
  const { manager, agent } = await setup(t);
  const laptop = await startApp(t, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      res.writeHead(200, { trailer: 'x-done' });
      res.write(`trailer=${String(req.trailers['x-req-trailer'])};`);
      res.addTrailers({ 'x-done': 'yes' });
      res.end(Buffer.concat(parts));
    });
  });
  const alice = await startDaemon(manager, 'alice');
  await alice.intercept({ name: 'chunked', localPort: laptop.port });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('POST / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n');
  // The local app itself answers 100 Continue (node does for Expect), through the tunnel.
  assert.equal((await client.response()).status, 100);
  client.send('3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Req-Trailer: 1\r\n\r\n');
  const res = await client.response();
  assert.equal(field(res, 'transfer-encoding'), 'chunked');
  assert.equal(res.body.toString(), 'trailer=1;abcde');
  assert.deepEqual(res.trailers, [['x-done', 'yes']]);
  // The connection remains usable.
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
});

test('matched: a body far larger than a head, sent while the tunnel opens, reaches the local app whole', async (t) => {
  const { manager, agent, laptop } = await setup(t);
  const alice = await startDaemon(manager, 'alice');
  await alice.intercept({ name: 'big', localPort: laptop.port });
  const client = await RawClient.connect(t, agent.address.port);
  const body = Buffer.alloc(1024 * 1024, 0x61);
  client.send(`POST /big HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\nContent-Length: ${body.length}\r\n\r\n`);
  client.send(body);
  const res = await client.response();
  assert.equal(res.status, 201);
  assert.equal(res.body.length, 'dev:/big:'.length + body.length);
});

test('matched: a tunnel reset mid-response aborts only that client connection', async (t) => {
  const { manager, agent } = await setup(t);
  // The developer side is the test's: it resets the stream after part of an answer, at a moment of its
  // choosing, which no local app behind the real daemon can do deterministically.
  const alice = await Developer.join(manager, 'alice');
  await alice.openTunnel(t, (stream) => {
    stream.respond({ ':status': 200 });
    stream.once('data', () => {
      // destroy() resets the stream (RST_STREAM INTERNAL_ERROR), as a daemon whose local app crashed mid-answer.
      stream.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => stream.destroy(new Error('developer app crashed')));
    });
  });
  await alice.intercept({ name: 'crashing', localPort: 3000 });
  const victim = await RawClient.connect(t, agent.address.port);
  const bystander = await RawClient.connect(t, agent.address.port);
  victim.send('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  await assert.rejects(victim.response(), /connection closed/);
  assert.equal(alice.relayed.length, 1, 'the request reached the developer side before the reset');
  bystander.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await bystander.response()).tag, 'app');
});

test('offline intercepts: fallback goes to the app, fail answers 503 with details', async (t) => {
  const { manager, agent } = await setup(t);
  // Sessions whose tunnel is not up (a daemon always opens one, so the test speaks for these developers).
  const alice = await Developer.join(manager, 'alice');
  const carol = await Developer.join(manager, 'carol');
  const fallback = await alice.intercept({ id: 'i-fb', name: 'alice-orders', onDisconnect: 'fallback', localPort: 3000 });
  const fail = await carol.intercept({ id: 'i-fail', name: 'carol-orders', onDisconnect: 'fail', localPort: 3000 });
  assert.deepEqual([fallback.online, fail.online], [false, false]);
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET /fb HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  const served = json(await client.response());
  assert.deepEqual([served.tag, served.url], ['app', '/fb']);
  client.send('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: carol\r\n\r\n');
  const res = await client.response();
  assert.equal(res.status, 503);
  assert.deepEqual(json(res), {
    error: {
      code: 'DETOUR_ERR_TUNNEL_OFFLINE',
      message: 'intercept carol-orders on orders is offline: its developer carol is not connected',
      details: { intercept: 'i-fail', name: 'carol-orders', owner: 'carol' },
    },
  });
});

test('a tunnel refused with detour-offline: fallback sends the request (body included) to the app, fail answers 503 without the marker', async (t) => {
  const { manager, agent } = await setup(t);
  // The developer side is the test's: it answers as the daemon does for an intercept it no longer holds
  // (daemon/src/local-forwarder.ts), which the real daemon only does in the instant after `detour leave`.
  const alice = await Developer.join(manager, 'alice');
  await alice.openTunnel(t, (stream, headers) => {
    const id = String(headers['detour-intercept-id']);
    respondStreamError(stream, new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `this developer no longer holds intercept ${id}`), { [RELAY_HEADER_OFFLINE]: id });
  });
  await alice.intercept({ id: 'i-fb', name: 'fb', onDisconnect: 'fallback', localPort: 3000 });
  await alice.intercept({ id: 'i-fail', name: 'fail', onDisconnect: 'fail', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }], localPort: 3000 });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('POST /x HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\nContent-Length: 5\r\n\r\nhello');
  const served = json(await client.response());
  assert.equal(served.tag, 'app');
  assert.equal(served.bytes, 5, 'the body waited at the agent until the tunnel answered, so the app gets all of it');
  client.send('GET /x HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: carol\r\n\r\n');
  const res = await client.response();
  assert.equal(res.status, 503);
  assert.equal(field(res, 'detour-offline'), undefined);
  assert.equal((json(res) as { error: { code: string } }).error.code, 'DETOUR_ERR_TUNNEL_OFFLINE');
  assert.deepEqual(alice.relayed.map((h) => h['detour-intercept-id']), ['i-fb', 'i-fail'], 'both were refused by the developer side, not by the agent');
});

test('manager link lost: rules are kept, fallback serves from the app, fail answers 503; the link comes back', async (t) => {
  const { agent, manager, app, laptop, partition } = await setup(t, { partitioned: true });
  const alice = await startDaemon(manager, 'alice');
  await alice.intercept({ name: 'fb', onDisconnect: 'fallback', localPort: laptop.port });
  await alice.intercept({ name: 'fail', onDisconnect: 'fail', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }], localPort: laptop.port });
  const routes = record<RouteEvent>(t, routeChannel, agent.id);
  const links = record<LinkEvent>(t, linkChannel, agent.id);
  const appSaw: string[] = [];
  app.server.on('request', (req: http.IncomingMessage) => appSaw.push(`${req.url} ${String(req.headers['x-telepresence-id'])}`));

  partition!.cut();
  await until(() => links.some((e) => e.state === 'transient-failure'), 'the agent to notice the lost link');
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET /during-outage HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
  client.send('GET /during-outage HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: carol\r\n\r\n');
  assert.equal((await client.response()).status, 503);
  // Decided by the kept rules: alice's matched the fallback intercept and went to the app; carol's matched the fail one.
  assert.deepEqual(
    routes.map((e) => [e.target, e.route]),
    [
      ['/during-outage', 'fallback'],
      ['/during-outage', 'offline'],
    ],
  );
  assert.deepEqual(appSaw, ['/during-outage alice']);

  partition!.heal();
  await until(() => links.at(-1)?.state === 'ready', 'the agent to resubscribe');
  const fresh = await RawClient.connect(t, agent.address.port);
  fresh.send('GET /after HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal((await fresh.response()).body.toString(), 'dev:/after:');
  assert.equal(routes.at(-1)?.route, 'intercept');
});

test('a wrong token is refused by the manager; unmatched traffic still flows', async (t) => {
  const app = await startApp(t, echoHandler('app'));
  const manager = await startTestManager(t);
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: manager.url, token: `${TOKEN}-wrong`, reconnectInitialMs: 20, reconnectMaxMs: 100 });
  const links = record<LinkEvent>(t, linkChannel, agent.id);
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
  // The manager refused the watch (401), so the link fails and retries, and never becomes ready.
  await until(() => links.some((e) => e.state === 'transient-failure'), 'a refused watch');
  assert.ok(!links.some((e) => e.state === 'ready'));
  assert.deepEqual(await manager.agents(), []);
});
