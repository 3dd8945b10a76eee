import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import type http2 from 'node:http2';
import type { RouteEvent } from '../src/index.js';
import { FakeManager, RawClient, TOKEN, agentFor, echoHandler, field, intercept, json, startApp, until } from './helpers.js';

// FakeManager stands in for packages/manager (being written in parallel); it follows the agent contract.

async function setup(t: Parameters<typeof agentFor>[0]) {
  const app = await startApp(t, echoHandler('app'));
  const manager = await FakeManager.start(t);
  const relayed: http2.IncomingHttpHeaders[] = [];
  manager.relay = (stream, headers) => {
    relayed.push(headers);
    const parts: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.on('end', () => {
      stream.respond({ ':status': 201, 'content-type': 'text/plain', 'x-dev': 'alice' });
      stream.end(`dev:${String(headers[':path'])}:${Buffer.concat(parts).toString()}`);
    });
  };
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: manager.url });
  await until(() => manager.acks.includes(1), 'the first rule set ack');
  return { app, manager, agent, relayed };
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
  const { manager, agent, relayed } = await setup(t);
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
  const first = relayed[0]!;
  assert.equal(first[':method'], 'POST');
  assert.equal(first[':authority'], 'orders');
  assert.equal(first[':scheme'], 'http');
  assert.equal(first['detour-intercept-id'], 'i-alice');
  assert.equal(first['x-telepresence-id'], 'alice');
  assert.equal(first.authorization, undefined, 'the manager token never rides on relay streams');
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

test('relay: chunked request de-chunked upstream, trailers both ways, chunked response to 1.1 clients', async (t) => {
  const { manager, agent } = await setup(t);
  manager.relay = (stream, headers) => {
    const parts: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.on('end', () => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-done': 'yes' }));
      stream.write(`te=${String(headers.te)};`);
      stream.end(Buffer.concat(parts));
    });
  };
  await manager.publish([intercept({ id: 'i1' })]);
  const client = await RawClient.connect(t, agent.address.port);
  client.send('POST / HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\nTE: trailers\r\nConnection: TE\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n');
  client.send('2\r\nde\r\n0\r\nX-Req-Trailer: 1\r\n\r\n');
  const res = await client.response();
  assert.equal(field(res, 'transfer-encoding'), 'chunked');
  assert.equal(res.body.toString(), 'te=trailers;abcde');
  assert.deepEqual(res.trailers, [['x-done', 'yes']]);
  // The connection remains usable.
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
});

test('relay: a reset mid-response aborts only that client connection', async (t) => {
  const { manager, agent } = await setup(t);
  manager.relay = (stream) => {
    stream.respond({ ':status': 200 });
    // destroy() resets the stream (RST_STREAM INTERNAL_ERROR); close() would end it cleanly first.
    stream.write('partial', () => stream.destroy(new Error('developer app crashed')));
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

test('manager answers detour-offline: fallback retries against the app, fail passes the 503 on without the marker', async (t) => {
  const { manager, agent } = await setup(t);
  manager.relay = (stream) => {
    stream.respond({ ':status': 503, 'detour-offline': '1', 'content-type': 'application/json' });
    stream.end('{"error":{"code":"DETOUR_ERR_TUNNEL_OFFLINE","message":"offline"}}');
  };
  await manager.publish([
    intercept({ id: 'i-fb', onDisconnect: 'fallback' }),
    intercept({ id: 'i-fail', onDisconnect: 'fail', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'carol' }] }),
  ]);
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET /x HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await client.response()).tag, 'app');
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
