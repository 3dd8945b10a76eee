import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { TestContext } from 'node:test';
import { startKeepalive } from '../src/index.js';

// The peer answers PINGs from a thread of its own (a Worker with its own event
// loop), so it keeps answering while this thread's loop is blocked, as a busy
// agent's peer does.
const PEER = `
const http2 = require('node:http2');
const { parentPort } = require('node:worker_threads');
const server = http2.createServer();
server.on('session', (session) => session.on('error', () => {}));
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => server.close(() => process.exit(0)));
`;

async function peer(t: TestContext): Promise<http2.ClientHttp2Session> {
  const worker = new Worker(PEER, { eval: true });
  const [port] = (await once(worker, 'message')) as [number];
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  t.after(async () => {
    session.destroy();
    worker.postMessage('stop');
    await once(worker, 'exit');
  });
  await once(session, 'connect');
  return session;
}

/** Blocks this thread's event loop, as a long synchronous task would (without spinning a core). */
function blockLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function pongs(session: http2.ClientHttp2Session, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve, reject) => session.ping((err) => (err === null ? resolve() : reject(err))));
}

test('a loop blocked for longer than the timeout does not kill a link whose peer kept answering', async (t) => {
  const session = await peer(t);
  let timedOut = 0;
  const stop = startKeepalive(session, { intervalMs: 50, timeoutMs: 300, onTimeout: () => timedOut++ });
  t.after(stop);
  // Blocked once just after a ping went out (its answer waits in the socket), once between pings.
  for (const afterMs of [55, 20]) {
    await sleep(afterMs);
    blockLoop(1_000);
    await sleep(200);
  }
  await pongs(session, 3);
  assert.equal(timedOut, 0, 'timeouts after the loop stalls');
  assert.equal(session.destroyed, false);
});

test('a peer that stops answering is timed out, once and not before the timeout', async (t) => {
  // Accepts the connection and reads, but never answers a frame: a frozen peer or a black-holed path.
  const silent = net.createServer((socket) => socket.resume());
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`);
  session.on('error', () => undefined);
  t.after(() => {
    session.destroy();
    silent.close();
  });
  await once(session, 'connect');
  const startedAt = Date.now();
  let timedOut = 0;
  let elapsedMs = 0;
  startKeepalive(session, {
    intervalMs: 50,
    timeoutMs: 300,
    onTimeout: () => {
      timedOut++;
      elapsedMs = Date.now() - startedAt;
    },
  });
  const deadline = Date.now() + 5_000;
  while (timedOut === 0 && Date.now() < deadline) await sleep(10);
  await sleep(200);
  assert.equal(timedOut, 1);
  assert.ok(elapsedMs >= 300, `timed out after ${elapsedMs} ms`);
});
