import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { routeChannel } from '../src/index.js';
import type { RouteEvent } from '../src/index.js';
import { MAX_HELD_BODY_BYTES } from '../src/held-requests.js';
import { Developer, agentWatching, spliceTo, startTestManager } from './control-plane.js';
import type { TunnelHandler } from './control-plane.js';
import { RawClient, agentFor, echoHandler, json, startApp, until } from './helpers.js';

// `--on-disconnect hold` (issue 14) through a real agent and the real manager, in
// this process. The developer is spoken for by the test (control-plane.ts
// Developer): a session without a tunnel is exactly an offline developer, and
// opening the tunnel later is the developer coming back.

async function setup(t: TestContext) {
  const app = await startApp(t, echoHandler('app'));
  const laptop = await startApp(t, echoHandler('laptop'));
  const manager = await startTestManager(t);
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: manager.url });
  await agentWatching(manager, agent.id);
  const routes: RouteEvent[] = [];
  const onRoute = (message: unknown) => {
    if ((message as RouteEvent).agentId === agent.id) routes.push(message as RouteEvent);
  };
  routeChannel.subscribe(onRoute);
  t.after(() => routeChannel.unsubscribe(onRoute));
  return { app, laptop, manager, agent, routes };
}

/** The daemon's two kinds of relayed stream: CONNECT for HTTP/1.1 (spliced to the laptop app), HTTP/2 streams answered here. */
function laptopSide(port: number): TunnelHandler {
  const splice = spliceTo(port);
  return (stream, headers) => {
    if (headers[':method'] === 'CONNECT') {
      splice(stream, headers);
      return;
    }
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(`laptop-h2:${String(headers[':path'])}`);
    });
  };
}

function h2Get(t: TestContext, port: number, path: string, header: string): Promise<{ status: number; body: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const stream = session.request({ ':path': path, 'x-telepresence-id': header });
  stream.setEncoding('utf8');
  let body = '';
  stream.on('data', (chunk: string) => (body += chunk));
  return Promise.all([once(stream, 'response') as Promise<[http2.IncomingHttpHeaders]>, once(stream, 'end')]).then(([[headers]]) => ({ status: Number(headers[':status']), body }));
}

test('held on HTTP/1.1 and HTTP/2 while the developer is offline, answered by the laptop once the tunnel is up', async (t) => {
  const { laptop, manager, agent, routes } = await setup(t);
  const alice = await Developer.join(manager, 'alice');
  const held = await alice.intercept({ id: 'i-hold', name: 'alice-orders', onDisconnect: 'hold', holdMs: 30_000, localPort: laptop.port });
  assert.equal(held.online, false);
  assert.equal(held.holdMs, 30_000, 'the manager stores and pushes the hold time');

  const h1 = await RawClient.connect(t, agent.address.port);
  h1.send('POST /h1 HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\nContent-Length: 5\r\n\r\nhello');
  const h1Answer = h1.response();
  const h2Answer = h2Get(t, agent.address.port, '/h2', 'alice');
  await until(() => routes.filter((e) => e.route === 'hold').length === 2, 'both requests to be held');

  // Meanwhile the rest of the traffic is not held: unmatched, and on another connection.
  const other = await RawClient.connect(t, agent.address.port);
  other.send('GET /unmatched HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(json(await other.response()).tag, 'app');

  await alice.openTunnel(t, laptopSide(laptop.port));
  const answered = json(await h1Answer);
  assert.deepEqual([answered.tag, answered.url, answered.bytes], ['laptop', '/h1', 5], 'the held body went on whole');
  assert.deepEqual(await h2Answer, { status: 200, body: 'laptop-h2:/h2' });
  const ends = routes.filter((e) => e.hold !== undefined).map((e) => [e.target, e.route, e.hold!.outcome]);
  assert.deepEqual(ends.sort(), [
    ['/h1', 'intercept', 'online'],
    ['/h2', 'intercept', 'online'],
  ]);
});

test('the hold time passes: the app answers, body included; a body over the bound and a client that leaves do not wait', async (t) => {
  const { laptop, manager, agent, routes } = await setup(t);
  const alice = await Developer.join(manager, 'alice');
  await alice.intercept({ id: 'i-hold', name: 'alice-orders', onDisconnect: 'hold', holdMs: 400, localPort: laptop.port });

  const client = await RawClient.connect(t, agent.address.port);
  const startedAt = performance.now();
  client.send('POST /expires HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\nContent-Length: 5\r\n\r\nhello');
  const served = json(await client.response());
  const ms = performance.now() - startedAt;
  assert.deepEqual([served.tag, served.url, served.bytes], ['app', '/expires', 5]);
  assert.ok(ms >= 390 && ms < 5_000, `answered by the app after the 400 ms hold, took ${ms} ms`);
  assert.deepEqual(routes.map((e) => [e.route, e.hold?.outcome]), [
    ['hold', undefined],
    ['fallback', 'expired'],
  ]);

  // Over the bound: to the app at once, without a `hold` event.
  const size = MAX_HELD_BODY_BYTES + 1;
  const big = await RawClient.connect(t, agent.address.port);
  const bigStartedAt = performance.now();
  big.send(Buffer.concat([Buffer.from(`POST /big HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\nContent-Length: ${size}\r\n\r\n`), Buffer.alloc(size, 0x61)]));
  const bigServed = json(await big.response());
  assert.deepEqual([bigServed.tag, bigServed.bytes], ['app', size]);
  assert.ok(performance.now() - bigStartedAt < 5_000);
  assert.deepEqual(routes.slice(2).map((e) => [e.target, e.route, e.hold?.outcome]), [['/big', 'fallback', 'body-over-bound']]);

  // A client that leaves while held: the wait ends with it, no route is taken later.
  const leaving = await RawClient.connect(t, agent.address.port);
  leaving.send('GET /leaves HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  await until(() => routes.some((e) => e.target === '/leaves' && e.route === 'hold'), 'the request to be held');
  // A reset, not a FIN: a half-closed HTTP/1.1 client may still read its answer, so it keeps waiting (allowHalfOpen).
  leaving.socket.resetAndDestroy();
  // Longer than the hold: had the wait not been cancelled, its fallback would be published by now.
  const probe = await RawClient.connect(t, agent.address.port);
  probe.send('GET /after HTTP/1.1\r\nHost: h\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await probe.response()).tag, 'app');
  assert.deepEqual(routes.filter((e) => e.target === '/leaves').map((e) => e.route), ['hold']);
});
