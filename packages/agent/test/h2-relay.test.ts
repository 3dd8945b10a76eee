import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import {
  CLIENT_PREFACE,
  encodeHeaderBlock,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FRAME_HEADERS,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FrameReader,
  H2_PROTOCOL_ERROR,
  HpackDecoder,
} from '@detour/transport';
import { agentWatching, startTestManager } from './control-plane.js';
import { agentFor, until } from './helpers.js';

// The agent's HTTP/2 frame relay (h2-relay.ts) against real node:http2 apps and clients on 127.0.0.1,
// and, where a test needs bytes node:http2 would never send, a raw socket speaking frames.

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

interface AppStream {
  headers: http2.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

interface H2App {
  url: string;
  port: number;
  /** Every stream the app saw, once it closed. */
  seen: AppStream[];
  sessions: Set<http2.ServerHttp2Session>;
  server: http2.Http2Server;
}

/** A real h2c app; `handler` answers, and defaults to echoing the body's sha256 with a trailer. */
async function h2App(t: TestContext, handler?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void): Promise<H2App> {
  const server = http2.createServer({ settings: { initialWindowSize: 1024 * 1024 } });
  const sessions = new Set<http2.ServerHttp2Session>();
  const seen: AppStream[] = [];
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const chunks: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('trailers', (received: http2.IncomingHttpHeaders) => (trailers = received));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.once('close', () => seen.push({ headers, rawHeaders, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode }));
    if (handler !== undefined) return handler(stream, headers, Buffer.alloc(0));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'detour-intercept-id': 'forged' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sha256': sha256(body), 'x-bytes': String(body.length) }));
      stream.end(headers[':path'] === '/big' ? Buffer.alloc(Number(headers['x-size']), 7) : `path=${headers[':path']} scheme=${headers[':scheme']}`);
    });
  };
  // node passes the raw field list fourth; @types/node omits it.
  server.on('stream', onStream as (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, seen, sessions, server };
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

interface Answer {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let response: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('response', (h) => (response = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('trailers', (received) => (trailers = received));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ headers: response, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode }));
    if (body !== undefined) stream.end(body);
  });
}

async function agentOnApp(t: TestContext, appUrl: string) {
  const manager = await startTestManager(t);
  const agent = await agentFor(t, { appUrl, managerUrl: manager.url });
  await agentWatching(manager, agent.id);
  return agent;
}

function connect(t: TestContext, port: number, settings?: http2.Settings): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings });
  t.after(() => session.destroy());
  return session;
}

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

/** A raw HTTP/2 client: frames out as the test writes them, frames in decoded. */
async function rawClient(t: TestContext, port: number) {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const frames: { type: number; flags: number; streamId: number; payload: Buffer }[] = [];
  const reader = new FrameReader({ frame: (type, flags, streamId, payload) => frames.push({ type, flags, streamId, payload: Buffer.from(payload) }) }, 1 << 24);
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
  const frame = (type: number, flags: number, streamId: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(streamId, 5);
    socket.write(Buffer.concat([head, payload]));
  };
  socket.write(CLIENT_PREFACE);
  frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0));
  return { socket, frames, frame };
}

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
