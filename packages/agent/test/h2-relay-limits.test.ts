import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import {
  encodeHeaderBlock,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FRAME_CONTINUATION,
  FRAME_DATA,
  FRAME_GOAWAY,
  FRAME_HEADERS,
  FRAME_PING,
  FRAME_RST_STREAM,
  FRAME_SETTINGS,
  FRAME_WINDOW_UPDATE,
  H2_CANCEL,
  H2_ENHANCE_YOUR_CALM,
  H2_FLOW_CONTROL_ERROR,
  SETTINGS_INITIAL_WINDOW_SIZE,
  settingsPayload,
  uint32Payload,
} from '@detour/transport';
import { agentOnApp, connect, frameBytes, h2App, rawClient, request } from './h2-peers.js';
import { until } from './helpers.js';

// The frame relay's flow control and its limits against a hostile or stalled peer (RFC 9113 §5.2, §6.9, §10.5).

const GET = (path: string, extra: string[] = []) => encodeHeaderBlock([':method', 'GET', ':scheme', 'http', ':path', path, ':authority', 'x', ...extra]);

function dataBytes(frames: { type: number; streamId: number; payload: Buffer }[], streamId: number): number {
  return frames.reduce((sum, f) => (f.type === FRAME_DATA && f.streamId === streamId ? sum + f.payload.length : sum), 0);
}

/** Waits until `read()` stops changing (a stalled transfer), bounded in polls; answers the last value. */
async function settled(read: () => number, quietPolls = 20, maxPolls = 400): Promise<number> {
  let last = read();
  let quiet = 0;
  for (let i = 0; i < maxPolls && quiet < quietPolls; i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    const now = read();
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

test('relay: a client window made negative by SETTINGS_INITIAL_WINDOW_SIZE holds the body back whole (RFC 9113 §6.9.2)', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  const size = 300_000;
  // Two full frames' worth of window: the third frame waits whole in the relay.
  const client = await rawClient(t, agent.address.port, settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 32_768]]));
  client.frame(FRAME_WINDOW_UPDATE, 0, 0, uint32Payload(1 << 20));
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, GET('/big', ['x-size', String(size)]));
  await until(() => dataBytes(client.frames, 1) === 32_768, 'the first window of the body');
  // The window drops to -100; an update of 50 leaves it at -50: nothing may leave yet.
  client.frame(FRAME_SETTINGS, 0, 0, settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 32_668]]));
  client.frame(FRAME_WINDOW_UPDATE, 0, 1, uint32Payload(50));
  client.frame(FRAME_WINDOW_UPDATE, 0, 1, uint32Payload(1 << 20));
  await until(() => client.frames.some((f) => f.streamId === 1 && (f.flags & FLAG_END_STREAM) !== 0 && f.type !== FRAME_RST_STREAM), 'the end of the body');
  assert.equal(dataBytes(client.frames, 1), size);
});

test('relay: a client reset of a stream whose response waits for its window gives the app connection its window back', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  // A client that grants no stream window: every response waits whole in the relay.
  const client = await rawClient(t, agent.address.port, settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 0]]));
  // Just under the stream window each (nghttp2 sends trailers only with window left), 20 MB in all: more than the app connection's 16 MiB window.
  for (let i = 0; i < 20; i++) {
    const id = 2 * i + 1;
    client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, GET('/big', ['x-size', String((1 << 20) - 1024)]));
    // The app's stream closes once its last byte reached the relay.
    await until(() => app.seen.length === i + 1, `the app to send stream ${id} whole`);
    client.frame(FRAME_RST_STREAM, 0, id, uint32Payload(H2_CANCEL));
  }
});

test('relay: an app that stops reading stops the client (bounded buffering towards the app)', async (t) => {
  // An h2c app that grants every window and then never reads its socket.
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const settings = settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]);
    socket.write(Buffer.concat([frameBytes(FRAME_SETTINGS, 0, 0, settings), frameBytes(FRAME_WINDOW_UPDATE, 0, 0, uint32Payload(2 ** 31 - 1 - 65_535))]));
    socket.pause();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const agent = await agentOnApp(t, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const session = connect(t, agent.address.port);
  const offered = 100 * 1024 * 1024;
  const upload = session.request({ ':method': 'POST', ':path': '/up' });
  upload.on('error', () => undefined);
  upload.end(Buffer.alloc(offered, 1));
  const sent = await settled(() => session.socket.bytesWritten);
  // The windows (16 MiB) and the kernel's socket buffers, not the 100 MB offered.
  assert.ok(sent < offered / 2, `the client could send ${sent} bytes to an app that reads nothing`);
});

test('relay: a client that floods PINGs and reads nothing is no longer read (bounded ACKs, as nghttp2)', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  const client = await rawClient(t, agent.address.port);
  client.socket.pause();
  const pings = 1_000_000;
  const frame = Buffer.alloc(17);
  frame.writeUIntBE(8, 0, 3);
  frame[3] = FRAME_PING;
  const batch = Buffer.concat(Array.from({ length: 1000 }, () => frame));
  for (let i = 0; i < pings / 1000; i++) client.socket.write(batch);
  const left = await settled(() => client.socket.writableLength);
  // The relay stopped reading once its ACKs were not read: the PINGs wait on the client's side.
  assert.ok(left > 0, 'the relay read every PING and queued an ACK for each');
});

test('relay: a header block of endless empty CONTINUATION frames ends the connection (ENHANCE_YOUR_CALM)', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  const client = await rawClient(t, agent.address.port);
  client.frame(FRAME_HEADERS, 0, 1, GET('/'));
  const empty = Buffer.alloc(9);
  empty[3] = FRAME_CONTINUATION;
  empty.writeUInt32BE(1, 5);
  client.socket.write(Buffer.concat(Array.from({ length: 100_000 }, () => empty)));
  await until(() => client.frames.some((f) => f.type === FRAME_GOAWAY), 'GOAWAY');
  const goaway = client.frames.find((f) => f.type === FRAME_GOAWAY)!;
  assert.equal(goaway.payload.readUInt32BE(4), H2_ENHANCE_YOUR_CALM);
});

test('relay: empty DATA frames are not passed on (the app would count them as a flood, CVE-2019-9518)', async (t) => {
  const app = await h2App(t);
  const agent = await agentOnApp(t, app.url);
  const client = await rawClient(t, agent.address.port);
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, encodeHeaderBlock([':method', 'POST', ':scheme', 'http', ':path', '/post', ':authority', 'x']));
  const empty = Buffer.alloc(9);
  empty[3] = FRAME_DATA;
  empty.writeUInt32BE(1, 5);
  // node:http2 apps end a session after 1000 of them (maxSessionInvalidFrames).
  client.socket.write(Buffer.concat(Array.from({ length: 2000 }, () => empty)));
  client.frame(FRAME_DATA, FLAG_END_STREAM, 1, Buffer.from('body'));
  await until(() => client.frames.some((f) => f.streamId === 1 && (f.flags & FLAG_END_STREAM) !== 0) || client.frames.some((f) => f.streamId === 1 && f.type === FRAME_RST_STREAM), 'the answer');
  assert.equal(app.seen.length, 1);
  assert.equal(app.seen[0]!.body.toString(), 'body');
  assert.equal(app.seen[0]!.rstCode, http2.constants.NGHTTP2_NO_ERROR);
});

test('relay: a client that resets stream after stream (rapid reset, CVE-2023-44487) gets GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const app = await h2App(t, (stream) => stream.resume());
  const agent = await agentOnApp(t, app.url);
  const client = await rawClient(t, agent.address.port);
  const block = GET('/');
  const frames: Buffer[] = [];
  const attempts = 5000;
  for (let i = 0; i < attempts; i++) {
    frames.push(frameBytes(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 2 * i + 1, block), frameBytes(FRAME_RST_STREAM, 0, 2 * i + 1, uint32Payload(H2_CANCEL)));
  }
  client.socket.write(Buffer.concat(frames));
  await until(() => client.frames.some((f) => f.type === FRAME_GOAWAY), 'GOAWAY');
  assert.equal(client.frames.find((f) => f.type === FRAME_GOAWAY)!.payload.readUInt32BE(4), H2_ENHANCE_YOUR_CALM);
  await until(() => app.sessions.size === 0, 'the app connection to close');
  assert.ok(app.seen.length < attempts, `the app saw ${app.seen.length} of ${attempts} streams`);
});

test("relay: streams beyond the app's SETTINGS_MAX_CONCURRENT_STREAMS wait for a slot instead of being refused", async (t) => {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
  let open = 0;
  let most = 0;
  server.on('stream', (stream) => {
    open++;
    most = Math.max(most, open);
    stream.once('close', () => open--);
    setTimeout(() => stream.respond({ ':status': 200 }, { endStream: true }), 20);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const agent = await agentOnApp(t, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const session = connect(t, agent.address.port);
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => request(session, { ':path': `/s/${i}` })));
  assert.deepEqual(
    answers.map((a) => a.headers[':status']),
    answers.map(() => 200),
  );
  assert.ok(most <= 2, `the app had ${most} streams open at once`);
});

test('relay: responses the client does not read yet do not stall the other streams of the connection (connection window)', async (t) => {
  // An app that sends each response whole into its 1 MiB stream window (and may keep 20 MB of them in flight: maxSessionMemory).
  const server = http2.createServer({ maxSessionMemory: 100, settings: { initialWindowSize: 1 << 20 } });
  server.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(Buffer.alloc(Number(headers['x-size']), 7));
  });
  let appSession: http2.ServerHttp2Session | undefined;
  server.on('session', (session) => (appSession = session));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const agent = await agentOnApp(t, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  // No stream window: each response waits whole in the relay, holding as much of the app connection's window.
  const client = await rawClient(t, agent.address.port, settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 0]]));
  client.frame(FRAME_WINDOW_UPDATE, 0, 0, uint32Payload(1 << 30));
  // Just under the app's stream window each (nghttp2 ends a stream only with window left): 20 MB, more than node's 16 MiB connection window.
  const waiting = 20;
  for (let i = 0; i < waiting; i++) client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 2 * i + 1, GET('/big', ['x-size', String((1 << 20) - 1024)]));
  // Until the app has sent what the relay's windows let it.
  await until(() => appSession !== undefined, 'the app connection');
  await settled(() => appSession!.socket.bytesWritten);
  const other = 2 * waiting + 1;
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, other, GET('/big', ['x-size', '1000']));
  client.frame(FRAME_WINDOW_UPDATE, 0, other, uint32Payload(1 << 20));
  await until(() => client.frames.some((f) => f.streamId === other && (f.flags & FLAG_END_STREAM) !== 0 && f.type !== FRAME_RST_STREAM), 'the other stream answered', 10_000);
  assert.equal(dataBytes(client.frames, other), 1000);
});

test('relay: a WINDOW_UPDATE that takes a stream window over 2^31-1 resets that stream (FLOW_CONTROL_ERROR, RFC 9113 §6.9.1)', async (t) => {
  const app = await h2App(t, (stream) => stream.resume());
  const agent = await agentOnApp(t, app.url);
  const client = await rawClient(t, agent.address.port);
  client.frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, GET('/'));
  await until(() => app.sessions.size === 1 && [...app.sessions][0]!.state.lastProcStreamID === 1, 'the stream to reach the app');
  client.frame(FRAME_WINDOW_UPDATE, 0, 1, uint32Payload(2 ** 31 - 1));
  await until(() => client.frames.some((f) => f.type === FRAME_RST_STREAM && f.streamId === 1), 'the reset');
  assert.equal(client.frames.find((f) => f.type === FRAME_RST_STREAM && f.streamId === 1)!.payload.readUInt32BE(0), H2_FLOW_CONTROL_ERROR);
  await until(() => app.seen.length === 1, 'the app to see its stream closed');
  assert.equal(app.seen[0]!.rstCode, H2_CANCEL);
});
