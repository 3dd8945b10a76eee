import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { DetourError } from '@detour/core';
import { RELAY_HEADER_OFFLINE } from '@detour/protocol';
import { respondStreamError } from '@detour/transport';
import { Developer, agentWatching, startTestManager } from './control-plane.js';
import { agentFor } from './helpers.js';
import { sniffProtocol } from '../src/protocol-sniffer.js';

// The manager is the real one, in this process (control-plane.ts); the apps and clients are real.

test('sniffProtocol decides on as few bytes as possible', () => {
  const b = (text: string) => Buffer.from(text, 'latin1');
  assert.equal(sniffProtocol(b('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
  assert.equal(sniffProtocol(b('PRI * HTTP/2.0\r\n')), undefined, 'a preface prefix waits');
  assert.equal(sniffProtocol(b('PRI /x HTTP/1.1\r\n')), 'http1', 'PRI as an HTTP/1.1 method once the preface diverges');
  assert.equal(sniffProtocol(b('GET / HTTP/1.1\r\n')), 'http1');
  assert.equal(sniffProtocol(b('\r\nPOST ')), 'http1', 'leading empty lines are allowed (RFC 9112 §2.2)');
  assert.equal(sniffProtocol(b('GE')), undefined);
  assert.equal(sniffProtocol(b('\r')), undefined);
  assert.equal(sniffProtocol(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 'other', 'a TLS ClientHello on a plaintext port');
  assert.equal(sniffProtocol(b('SSH-2.0-OpenSSH_9.6\r\n')), 'other');
  assert.equal(sniffProtocol(b(`${'A'.repeat(40)} `)), 'other', 'no method is that long');
});

/** A real h2c app that echoes who served the request and sends a trailer. */
async function h2cApp(t: TestContext, name: string): Promise<string> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  server.on('stream', (stream, headers) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/json' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-served-by': name }));
      stream.end(JSON.stringify({ app: name, path: headers[':path'], id: headers['x-telepresence-id'] ?? null }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

interface H2Result {
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<H2Result> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ...headers });
    let body = '';
    let response: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.setEncoding('utf8');
    stream.on('response', (h) => (response = h));
    stream.on('data', (chunk: string) => (body += chunk));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ headers: response, body, trailers, rstCode: stream.rstCode }));
    stream.end();
  });
}

test('auto port: h2c streams are routed one by one; trailers, RST codes and the fail policy as gRPC status', async (t) => {
  const manager = await startTestManager(t);
  const appUrl = await h2cApp(t, 'app');
  const agent = await agentFor(t, { appUrl, managerUrl: manager.url });
  await agentWatching(manager, agent.id);
  // The developer side is the test's: it reports the relay headers it got, and fails streams in ways
  // (a reset with a chosen code mid-response) that no local app behind the real daemon does on cue.
  const developer = await Developer.join(manager, 'alice');
  await developer.openTunnel(t, (stream, headers) => {
    stream.resume();
    if (headers['x-telepresence-id'] === 'refused') {
      // Refused before any answer, as the daemon refuses an intercept it no longer holds
      // (daemon/src/local-forwarder.ts): the fallback policy sends the stream to the app.
      const id = String(headers['detour-intercept-id']);
      respondStreamError(stream, new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `this developer no longer holds intercept ${id}`), { [RELAY_HEADER_OFFLINE]: id });
      return;
    }
    if (headers['x-telepresence-id'] === 'broken') {
      // A developer's stream that fails mid-response must fail alone, with its code. (waitForTrailers keeps
      // node's close() from sending END_STREAM before the RST_STREAM.)
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.write('partial', () => stream.close(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM));
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/json' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(JSON.stringify({ relayed: headers['detour-intercept-id'], protocol: headers['detour-upstream-protocol'], te: headers.te ?? null }));
  });
  const header = (value: string) => [{ name: 'x-telepresence-id', op: 'equals' as const, value }];
  await developer.intercept({ id: 'i-alice', name: 'alice', headers: header('alice'), localPort: 3000 });
  await developer.intercept({ id: 'i-broken', name: 'broken', headers: header('broken'), localPort: 3000 });
  await developer.intercept({ id: 'i-refused', name: 'refused', headers: header('refused'), localPort: 3000 });
  // A developer whose tunnel is not up (a daemon always opens one, so the test speaks for this one).
  const bob = await Developer.join(manager, 'bob');
  await bob.intercept({ id: 'i-gone', name: 'gone-one', headers: header('gone'), onDisconnect: 'fail', localPort: 3000 });

  const session = http2.connect(`http://127.0.0.1:${agent.address.port}`);
  t.after(() => session.destroy());
  const [plain, alice, broken, gone, goneJson, again, refused] = await Promise.all([
    h2Request(session, { ':path': '/svc/Method?x=1' }),
    h2Request(session, { 'x-telepresence-id': 'alice', te: 'trailers' }),
    h2Request(session, { 'x-telepresence-id': 'broken' }),
    h2Request(session, { 'x-telepresence-id': 'gone', 'content-type': 'application/grpc' }),
    h2Request(session, { 'x-telepresence-id': 'gone' }),
    h2Request(session, {}),
    h2Request(session, { 'x-telepresence-id': 'refused' }),
  ]);
  assert.deepEqual(JSON.parse(plain.body), { app: 'app', path: '/svc/Method?x=1', id: null });
  assert.equal(plain.trailers?.['x-served-by'], 'app');
  assert.deepEqual(JSON.parse(alice.body), { relayed: 'i-alice', protocol: 'h2', te: 'trailers' });
  assert.equal(alice.trailers?.['grpc-status'], '0');
  assert.equal(broken.rstCode, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 'the reset code crosses the agent');
  assert.deepEqual(JSON.parse(refused.body), { app: 'app', path: '/', id: 'refused' });
  assert.deepEqual([gone.headers[':status'], gone.headers['grpc-status']], [200, '14']);
  assert.match(decodeURIComponent(String(gone.headers['grpc-message'])), /intercept gone-one on orders is offline/);
  assert.equal(goneJson.headers[':status'], 503);
  assert.equal((JSON.parse(goneJson.body) as { error: { code: string } }).error.code, 'DETOUR_ERR_TUNNEL_OFFLINE');
  assert.equal(JSON.parse(again.body).app, 'app');
  assert.equal(session.destroyed, false, 'one failed stream left the client connection alone');
  assert.deepEqual(developer.relayed.map((h) => h['detour-intercept-id']).sort(), ['i-alice', 'i-broken', 'i-refused']);
});

test('auto port: bytes that are neither HTTP/1.x nor HTTP/2 reach the app untouched, both ways', async (t) => {
  const manager = await startTestManager(t);
  // A raw TCP app that answers each chunk reversed: not HTTP at all.
  const sockets = new Set<net.Socket>();
  const app = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => socket.write(Buffer.from(chunk).reverse()));
  });
  app.listen(0, '127.0.0.1');
  await once(app, 'listening');
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    app.close();
  });
  const agent = await agentFor(t, { appUrl: `http://127.0.0.1:${(app.address() as net.AddressInfo).port}`, managerUrl: manager.url });

  const client = net.connect(agent.address.port, '127.0.0.1');
  t.after(() => client.destroy());
  const payload = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a]);
  client.write(payload);
  const [answer] = (await once(client, 'data')) as [Buffer];
  assert.deepEqual(answer, Buffer.from(payload).reverse());
});
