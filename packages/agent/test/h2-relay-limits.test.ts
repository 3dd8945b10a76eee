import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHeaderBlock, FLAG_END_HEADERS, FLAG_END_STREAM, FRAME_DATA, FRAME_HEADERS, FRAME_RST_STREAM, FRAME_SETTINGS, FRAME_WINDOW_UPDATE, H2_CANCEL, SETTINGS_INITIAL_WINDOW_SIZE, settingsPayload, uint32Payload } from '@detour/transport';
import { agentOnApp, h2App, rawClient } from './h2-peers.js';
import { until } from './helpers.js';

// The frame relay's flow control and its limits against a hostile or stalled peer (RFC 9113 §5.2, §6.9, §10.5).

const GET = (path: string, extra: string[] = []) => encodeHeaderBlock([':method', 'GET', ':scheme', 'http', ':path', path, ':authority', 'x', ...extra]);

function dataBytes(frames: { type: number; streamId: number; payload: Buffer }[], streamId: number): number {
  return frames.reduce((sum, f) => (f.type === FRAME_DATA && f.streamId === streamId ? sum + f.payload.length : sum), 0);
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
