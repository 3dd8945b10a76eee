import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import type http from 'node:http';
import type http2 from 'node:http2';
import type { RouteEvent } from '../src/index.js';
import { FakeManager, RawClient, TOKEN, agentFor, echoHandler, field, intercept, json, spliceTo, startApp, until } from './helpers.js';

// FakeManager stands in for the manager and the daemon together (spliceTo): it
// follows the agent contract, with a real HTTP server as the developer's local app.

async function setup(t: Parameters<typeof agentFor>[0]) {
  const app = await startApp(t, echoHandler('app'));
  const seen: http.IncomingMessage[] = [];
  const laptop = await startApp(t, (req, res) => {
    seen.push(req);
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'text/plain', 'x-dev': 'alice' });
      res.end(`dev:${String(req.url)}:${Buffer.concat(parts).toString()}`);
    });
  });
  const manager = await FakeManager.start(t);
  const relayed: http2.IncomingHttpHeaders[] = [];
  const splice = spliceTo(laptop.port);
  manager.relay = (stream, headers) => {
    relayed.push(headers);
    splice(stream, headers);
  };
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: manager.url });
  await until(() => manager.acks.includes(1), 'the first rule set ack');
  return { app, laptop, seen, manager, agent, relayed };
}

test('watch subscribes with service, agent id, listen address and token; acks every rule set', async (t) => {
  const { manager, agent } = await setup(t);
  const query = manager.watchRequests[0]!;
  assert.equal(query.get('service'), 'orders');
  assert.equal(query.get('agentId'), agent.id);
  assert.equal(query.get('listen'), `127.0.0.1:${agent.address.port}`);
  await manager.publish([intercept({ id: 'i1' })]);
  assert.deepEqual(manager.acks, [1, 2]);
});

test('one keep-alive connection opened before the rule existed: each request routed on its own', async (t) => {
  const { manager, agent, relayed, seen } = await setup(t);
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET /before HTTP/1.1\r\nHost: orders\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');

  await manager.publish([intercept({ id: 'i-alice' })]);
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
  assert.equal(relayed.length, 1);
  const tunnel = relayed[0]!;
  assert.equal(tunnel[':method'], 'CONNECT');
  assert.equal(tunnel[':path'], undefined);
  assert.equal(tunnel['detour-intercept-id'], 'i-alice');
  assert.equal(tunnel.authorization, undefined, 'the manager token never rides on relay streams');
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.method, 'POST');
  assert.equal(seen[0]!.headers.host, 'orders');
  assert.equal(seen[0]!.headers['x-telepresence-id'], 'alice');
});

test('a header repeated several times matches if any value matches; path matchers see no query', async (t) => {
  const { manager, agent } = await setup(t);
  await manager.publish([intercept({ id: 'i-path', paths: [{ op: 'prefix', value: '/api/' }] })]);
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
  manager.relay = spliceTo(laptop.port);
  await manager.publish([intercept({ id: 'i1' })]);
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
  const { manager, agent } = await setup(t);
  await manager.publish([intercept({ id: 'i1' })]);
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
  manager.relay = (stream) => {
    stream.respond({ ':status': 200 });
    stream.once('data', () => {
      // destroy() resets the stream (RST_STREAM INTERNAL_ERROR), as a daemon whose local app crashed mid-answer.
      stream.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => stream.destroy(new Error('developer app crashed')));
    });
  };
  await manager.publish([intercept({ id: 'i1' })]);
  const victim = await RawClient.connect(t, agent.address.port);
  const bystander = await RawClient.connect(t, agent.address.port);
  victim.send('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  await assert.rejects(victim.response(), /connection closed/);
  bystander.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await bystander.response()).tag, 'app');
});

test('offline intercepts: fallback goes to the app, fail answers 503 with details', async (t) => {
  const { manager, agent } = await setup(t);
  await manager.publish([
    intercept({ id: 'i-fb', online: false, onDisconnect: 'fallback' }),
    intercept({
      id: 'i-fail',
      name: 'carol-orders',
      online: false,
      onDisconnect: 'fail',
      headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }],
      owner: { sessionId: 's-carol', name: 'carol', headerValue: 'carol' },
    }),
  ]);
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
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
  manager.relay = (stream) => {
    stream.respond({ ':status': 503, 'detour-offline': '1', 'content-type': 'application/json' });
    stream.end('{"error":{"code":"DETOUR_ERR_TUNNEL_OFFLINE","message":"offline"}}');
    // As the manager does (relay.ts): keep reading what the agent sends, so no reset closes the stream for it.
    stream.resume();
  };
  await manager.publish([
    intercept({ id: 'i-fb', onDisconnect: 'fallback' }),
    intercept({ id: 'i-fail', onDisconnect: 'fail', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }] }),
  ]);
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
});

test('manager down: rules are kept, fallback serves from the app, fail answers 503; the link comes back', async (t) => {
  const { manager, agent } = await setup(t);
  await manager.publish([
    intercept({ id: 'i-fb', onDisconnect: 'fallback' }),
    intercept({ id: 'i-fail', onDisconnect: 'fail', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }] }),
  ]);
  const events: RouteEvent[] = [];
  const onRoute = (message: unknown) => events.push(message as RouteEvent);
  diagnostics.subscribe('detour:agent:route', onRoute);
  t.after(() => diagnostics.unsubscribe('detour:agent:route', onRoute));

  const watchesBefore = manager.watchRequests.length;
  manager.dropSessions();
  const client = await RawClient.connect(t, agent.address.port);
  // Until the agent notices, a relay attempt fails before any byte and the offline policy applies too.
  client.send('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
  client.send('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: carol\r\n\r\n');
  assert.equal((await client.response()).status, 503);
  assert.ok(events.some((e) => e.interceptId === 'i-fb'));

  await until(() => manager.watchRequests.length > watchesBefore, 'the agent to resubscribe');
  const fresh = await RawClient.connect(t, agent.address.port);
  await until(() => manager.sessions.size > 0 && manager.acks.filter((v) => v === manager.ruleSet.version).length >= 2, 'the resubscribed ack');
  fresh.send('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal((await fresh.response()).status, 201);
});

test('a wrong token is refused by the manager; unmatched traffic still flows', async (t) => {
  const app = await startApp(t, echoHandler('app'));
  const manager = await FakeManager.start(t);
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: manager.url, token: `${TOKEN}-wrong` });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
  assert.deepEqual(manager.acks, []);
});
