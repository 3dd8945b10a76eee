import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { request } from 'undici';
import { WebSocket } from 'ws';
import { Environment } from './support/environment.js';
import { eventually, rssGrowthDuring } from './support/processes.js';

/** Total WebSocket bytes of the memory test (half up, half down); DETOUR_E2E_WS_BYTES=1073741824 for the 1 GB run. */
const STREAM_BYTES = Number(process.env.DETOUR_E2E_WS_BYTES ?? 256 * 1024 * 1024);
/** Streaming must not grow the agent or daemon by more than this: nothing may hold the stream. */
const MAX_RSS_GROWTH_BYTES = 80 * 1024 * 1024;

/** A connected client with a queue of received messages, so no message is missed between awaits. */
class Client {
  readonly ws: WebSocket;
  readonly #messages: string[] = [];
  readonly #waiters: { resolve: (message: string) => void; reject: (err: Error) => void }[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = (data as Buffer).toString();
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) waiter.resolve(text);
      else this.#messages.push(text);
    });
    ws.on('close', () => {
      for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error('closed while waiting for a message'));
    });
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<{ client: Client; hello: { app: string; path: string } }> {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers });
    const client = new Client(ws);
    const hello = client.next();
    await once(ws, 'open');
    return { client, hello: JSON.parse(await hello) as { app: string; path: string } };
  }

  next(): Promise<string> {
    const queued = this.#messages.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async ask(text: string): Promise<string> {
    const answer = this.next();
    this.ws.send(text);
    return answer;
  }
}

async function openCount(appUrl: string): Promise<number> {
  const response = await request(`${appUrl}/ws-open`);
  return ((await response.body.json()) as { open: number }).open;
}

test('WebSocket: matched upgrades of two developers and unmatched ones at once, messages both ways, close propagation', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const [alice, bob] = await Promise.all([env.developer('alice'), env.developer('bob')]);
  const aliceHeader = await alice.interceptHeader('api');
  const bobHeader = await bob.interceptHeader('api');
  const url = `${api.agentUrls[0]}/chat?room=1`;

  const [a, b, plain] = await Promise.all([
    Client.open(url, { [aliceHeader[0]]: aliceHeader[1] }),
    Client.open(url, { [bobHeader[0]]: bobHeader[1] }),
    Client.open(url),
  ]);
  assert.deepEqual(a.hello, { app: 'alice-laptop', path: '/chat?room=1' });
  assert.deepEqual(b.hello, { app: 'bob-laptop', path: '/chat?room=1' });
  assert.deepEqual(plain.hello, { app: 'api', path: '/chat?room=1' });

  // Interleaved traffic on the three connections, plus plain HTTP next to them.
  for (let i = 0; i < 20; i++) {
    const [ra, rb, rp, http] = await Promise.all([
      a.client.ask(`a${i}`),
      b.client.ask(`b${i}`),
      plain.client.ask(`p${i}`),
      request(`${api.agentUrls[0]}/anything`, { headers: i % 2 === 0 ? { [aliceHeader[0]]: aliceHeader[1] } : {} }).then((r) => r.body.json() as Promise<{ app: string }>),
    ]);
    assert.equal(ra, `alice-laptop:a${i}`);
    assert.equal(rb, `bob-laptop:b${i}`);
    assert.equal(rp, `api:p${i}`);
    assert.equal(http.app, i % 2 === 0 ? 'alice-laptop' : 'api');
  }

  // The app closes: its close frame and then its FIN reach the client.
  const closedByApp = once(a.client.ws, 'close') as Promise<[number, Buffer]>;
  a.client.ws.send('close');
  const [code, reason] = await closedByApp;
  assert.equal(code, 4000);
  assert.equal(reason.toString(), 'bye');

  // The client closes: the closing handshake completes through the tunnel.
  const closedByClient = once(plain.client.ws, 'close') as Promise<[number, Buffer]>;
  plain.client.ws.close(1000, 'done');
  assert.equal((await closedByClient)[0], 1000);

  // The client vanishes without a closing handshake: the laptop app sees its connection go.
  assert.equal(await openCount(bob.localUrl), 1);
  b.client.ws.terminate();
  await eventually('bob-laptop sees the WebSocket closed', async () => ((await openCount(bob.localUrl)) === 0 ? true : undefined));
  await eventually('alice-laptop has no WebSocket left', async () => ((await openCount(alice.localUrl)) === 0 ? true : undefined));
  await eventually('api has no WebSocket left', async () => ((await openCount(api.appUrl)) === 0 ? true : undefined));
});

test('WebSocket: an upgrade the app declines reaches the client as the answer it is', { timeout: 60_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  // No Sec-WebSocket-Key: the laptop's ws server refuses the handshake with a 400; no 101 may be invented.
  const socket = net.connect(Number(new URL(api.agentUrls[0]!).port), '127.0.0.1');
  socket.end(`GET /chat HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n${name}: ${value}\r\n\r\n`);
  let text = '';
  for await (const chunk of socket) text += (chunk as Buffer).toString('latin1');
  assert.match(text, /^HTTP\/1\.1 400 /);
  assert.match(text, /Sec-WebSocket-Key/i);
  assert.equal(await openCount(alice.localUrl), 0);
});


/** Sends `bytes` in 64 KiB binary messages, at most 16 not yet handed to the socket. */
async function upload(ws: WebSocket, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 0x63);
  let left = bytes;
  let inFlight = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (left > 0 && inFlight < 16) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        inFlight += 1;
        ws.send(piece, (err) => {
          if (err !== undefined && err !== null) return reject(err);
          inFlight -= 1;
          if (left === 0 && inFlight === 0) resolve();
          else pump();
        });
      }
    };
    pump();
  });
}

test(`WebSocket: ${STREAM_BYTES / 2 ** 20} MiB through a matched upgrade with bounded agent and daemon memory`, { timeout: 900_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  const agentPid = api.agents[0]!.pid!;
  const daemonPid = await alice.daemonPid();
  const { client, hello } = await Client.open(`${api.agentUrls[0]}/stream`, { [name]: value });
  assert.equal(hello.app, 'alice-laptop');
  const half = STREAM_BYTES / 2;
  const started = Date.now();

  const { result, growth } = await rssGrowthDuring([agentPid, daemonPid], async () => {
    await upload(client.ws, half);
    const counted = await client.ask('count');
    let downloaded = 0;
    client.ws.on('message', (data, isBinary) => {
      if (isBinary) downloaded += (data as Buffer).length;
    });
    assert.equal(await client.ask(`download ${half}`), 'done');
    return { counted, downloaded };
  });
  const seconds = (Date.now() - started) / 1000;
  assert.equal(result.counted, `count:${half}`);
  assert.equal(result.downloaded, half);
  t.diagnostic(`${STREAM_BYTES / 2 ** 20} MiB in ${seconds.toFixed(1)} s; RSS growth agent ${(growth[0]! / 2 ** 20).toFixed(1)} MiB, daemon ${(growth[1]! / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(growth[0]! < MAX_RSS_GROWTH_BYTES, `agent grew by ${growth[0]} bytes`);
  assert.ok(growth[1]! < MAX_RSS_GROWTH_BYTES, `daemon grew by ${growth[1]} bytes`);
  client.ws.close();
});
