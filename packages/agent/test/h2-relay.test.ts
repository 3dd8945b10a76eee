import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { encodeHeaderBlock, FLAG_END_HEADERS, FLAG_END_STREAM, FRAME_GOAWAY, FRAME_HEADERS, FRAME_RST_STREAM, H2_NO_ERROR, H2_PROTOCOL_ERROR, HpackDecoder } from '@detour/transport';
import { agentOnApp, connect, h2App, rawClient, request, sha256 } from './h2-peers.js';
import { until } from './helpers.js';

// The agent's HTTP/2 frame relay (h2-relay.ts) against real node:http2 apps and clients on 127.0.0.1,
// and, where a test needs bytes node:http2 would never send, a raw socket speaking frames.

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

test('relay: streams keep their fields, bodies, trailers and :scheme; the relay own fields never cross', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  const session = connect(t, agent.address.port);
  const upload = Buffer.alloc(300_000, 3);
  const [plain, posted] = await Promise.all([
    request(session, { ':path': '/svc/Method?x=1', 'x-custom': 'one', 'detour-intercept-id': 'smuggled', host: 'ignored.example' }),
    request(session, { ':method': 'POST', ':path': '/upload', 'content-length': String(upload.length) }, upload),
  ]);
  assert.equal(plain.headers[':status'], 200, JSON.stringify(plain));
  assert.equal(plain.body.toString(), 'path=/svc/Method?x=1 scheme=http');
  assert.equal(plain.headers['detour-intercept-id'], undefined, "the app's relay-owned field is dropped");
  assert.equal(plain.trailers?.['x-bytes'], '0');
  assert.equal(posted.trailers?.['x-sha256'], sha256(upload));
  const seenPlain = app.seen.find((s) => s.headers[':path'] === '/svc/Method?x=1')!;
  assert.equal(seenPlain.headers['x-custom'], 'one');
  assert.equal(seenPlain.headers['detour-intercept-id'], undefined, "the client's relay-owned field is dropped");
  assert.equal(seenPlain.headers.host, undefined);
});

test('relay: many concurrent streams and large bodies both ways keep flow control, with a client that reads slowly', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  // The client grants only the default 64 KiB per stream: the relay must wait for its WINDOW_UPDATEs.
  const session = connect(t, agent.address.port, { initialWindowSize: 65_535 });
  const answers = await Promise.all(Array.from({ length: 150 }, (_, i) => request(session, { ':path': `/n/${i}` })));
  assert.deepEqual(
    answers.map((a) => a.body.toString()),
    answers.map((_, i) => `path=/n/${i} scheme=http`),
  );
  const size = 5 * 1024 * 1024;
  const upload = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) upload[i] = i & 0xff;
  const [down, up] = await Promise.all([request(session, { ':path': '/big', 'x-size': String(size) }), request(session, { ':method': 'POST', ':path': '/up' }, upload)]);
  assert.equal(down.body.length, size);
  assert.equal(up.trailers?.['x-sha256'], sha256(upload));
});

test('relay: resets cross with their codes, both ways, and leave the connection alone', async (t) => {
  const app = await h2App(t, (stream, headers) => {
    if (headers[':path'] === '/reset') {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.write('partial', () => stream.close(NGHTTP2_ENHANCE_YOUR_CALM));
      return;
    }
    // Never answers: the client cancels.
    stream.resume();
  });
  const agent = await agentOnApp(t, app.url);
  const session = connect(t, agent.address.port);
  const reset = await request(session, { ':path': '/reset' });
  assert.equal(reset.rstCode, NGHTTP2_ENHANCE_YOUR_CALM);
  const hanging = session.request({ ':path': '/hang' }, { endStream: false });
  hanging.on('error', () => undefined);
  await until(() => app.sessions.size > 0 && app.seen.length === 1, 'the app to see the reset stream');
  hanging.write('x');
  await new Promise((resolve) => setTimeout(resolve, 50));
  hanging.close(NGHTTP2_CANCEL);
  await until(() => app.seen.some((s) => s.headers[':path'] === '/hang'), 'the app to see the cancel');
  assert.equal(app.seen.find((s) => s.headers[':path'] === '/hang')!.rstCode, NGHTTP2_CANCEL);
  assert.equal(session.destroyed, false);
});

test('relay: an app that is down gets callers detour errors (gRPC UNAVAILABLE, JSON 502), and the app coming back is used', async (t) => {
  // A port that refuses: bound, then closed.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const agent = await agentOnApp(t, `http://127.0.0.1:${port}`);
  const session = connect(t, agent.address.port);
  const [grpc, json] = await Promise.all([
    request(session, { ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' }, Buffer.alloc(5)),
    request(session, {}),
  ]);
  assert.deepEqual([grpc.headers[':status'], grpc.headers['grpc-status']], [200, '14']);
  assert.match(decodeURIComponent(String(grpc.headers['grpc-message'])), /did not answer over HTTP\/2/);
  assert.equal(json.headers[':status'], 502);
  assert.equal((JSON.parse(json.body.toString()) as { error: { code: string } }).error.code, 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE');
  // The app starts on that port; the same client connection reaches it.
  const server = http2.createServer();
  server.on('stream', (stream) => stream.respond({ ':status': 204 }, { endStream: true }));
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const later = await request(session, {});
  assert.equal(later.headers[':status'], 204);
});

test('relay: an app that closes its connection (GOAWAY) between streams is dialled again', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  const session = connect(t, agent.address.port);
  assert.equal((await request(session, { ':path': '/one' })).headers[':status'], 200);
  for (const appSession of app.sessions) appSession.close();
  await until(() => app.sessions.size === 0, 'the app to close its sessions');
  assert.equal((await request(session, { ':path': '/two' })).headers[':status'], 200);
  assert.equal(session.destroyed, false);
});

test('relay: a malformed request is reset with PROTOCOL_ERROR and never reaches the app; the connection goes on', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  const client = await rawClient(t, agent.address.port);
  const base = [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x'];
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, encodeHeaderBlock([...base, 'connection', 'close']));
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, encodeHeaderBlock([...base, 'x-bad', 'a\r\nb']));
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 5, encodeHeaderBlock(['x-first', '1', ...base]));
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 7, encodeHeaderBlock(base));
  await until(() => client.frames.some((f) => f.streamId === 7 && (f.flags & FLAG_END_STREAM) !== 0), 'the good stream answered');
  for (const id of [1, 3, 5]) {
    const reset = client.frames.find((f) => f.type === FRAME_RST_STREAM && f.streamId === id);
    assert.equal(reset?.payload.readUInt32BE(0), H2_PROTOCOL_ERROR, `stream ${id} is reset`);
  }
  const decoder = new HpackDecoder();
  const answer = client.frames.find((f) => f.type === FRAME_HEADERS && f.streamId === 7)!;
  assert.deepEqual(decoder.decode(answer.payload).fields.slice(0, 2), [':status', '200']);
  assert.deepEqual(
    app.seen.map((s) => s.headers[':path']),
    ['/'],
    'only the good stream reached the app',
  );
});

test('relay: a client that disconnects mid-stream leaves no app stream open (each is reset with CANCEL)', async (t) => {
  const app = await h2App(t, (stream) => stream.resume());
  const agent = await agentOnApp(t, app.url);
  const client = await rawClient(t, agent.address.port);
  const head = encodeHeaderBlock([':method', 'POST', ':scheme', 'http', ':path', '/slow', ':authority', 'x']);
  for (const id of [1, 3, 5]) client.frame(FRAME_HEADERS, FLAG_END_HEADERS, id, head);
  await until(() => app.sessions.size === 1 && [...app.sessions][0]!.state.lastProcStreamID === 5, 'the app to see the streams');
  client.socket.destroy();
  await until(() => app.seen.length === 3, 'the app to see its streams closed');
  assert.deepEqual(
    app.seen.map((s) => s.rstCode),
    [NGHTTP2_CANCEL, NGHTTP2_CANCEL, NGHTTP2_CANCEL],
  );
});

// Bounded: a relay that never closed would leave `closed` pending.
test('relay: an idle client connection is closed with GOAWAY after idleTimeoutMs', { timeout: 10_000 }, async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url, { idleTimeoutMs: 200 });
  const client = await rawClient(t, agent.address.port);
  // Listened for at once: the close may come in the same turn as the GOAWAY.
  const closed = once(client.socket, 'close');
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, encodeHeaderBlock([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'x']));
  await closed;
  const goaway = client.frames.find((f) => f.type === FRAME_GOAWAY);
  assert.ok(goaway !== undefined, 'GOAWAY before the close');
  assert.deepEqual([goaway.payload.readUInt32BE(0), goaway.payload.readUInt32BE(4)], [1, H2_NO_ERROR], 'GOAWAY names the last stream, NO_ERROR');
  assert.ok(client.frames.some((f) => f.streamId === 1 && (f.flags & FLAG_END_STREAM) !== 0), 'the stream before it was answered');
});
