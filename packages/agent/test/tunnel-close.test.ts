import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { agentWatching, startDaemon, startTestManager } from './control-plane.js';
import type { TestManager } from './control-plane.js';
import { RawClient, agentFor, echoHandler, json, startApp, until } from './helpers.js';

// The manager's HTTP/2 server (nghttp2 >= 1.57, the CVE-2023-44487 "rapid reset"
// guard) drops a client's whole session with GOAWAY(INTERNAL_ERROR) once it has
// received about 1,000 RST_STREAM frames faster than 33/s, and node 20 cannot
// raise that limit. An agent that reset each tunnel it closed lost its link, and
// with it its registration, after ~15 s of intercept churn (the full
// intercept-churn fault case). A tunnel the agent is done with must be ended
// (END_STREAM), never reset. The manager, daemon and apps here are real; the hop
// between agent and manager only counts the frames the agent sends.

const PREFACE_BYTES = 24; // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 §3.4)
const FRAME_HEADER_BYTES = 9;
const RST_STREAM = 0x3;

/** A TCP hop to the manager that counts the HTTP/2 frames the agent sends through it, by type. */
class FrameCounter {
  readonly #server: net.Server;
  readonly #sent = new Map<number, number>();

  private constructor(target: number) {
    this.#server = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      let pending = Buffer.alloc(0);
      let skip = PREFACE_BYTES;
      client.on('data', (chunk: Buffer) => {
        upstream.write(chunk);
        pending = Buffer.concat([pending, chunk]);
        for (;;) {
          if (skip > 0) {
            const skipped = Math.min(skip, pending.length);
            pending = pending.subarray(skipped);
            skip -= skipped;
            if (skip > 0) return;
          }
          if (pending.length < FRAME_HEADER_BYTES) return;
          const length = pending.readUIntBE(0, 3);
          const type = pending[3]!;
          this.#sent.set(type, (this.#sent.get(type) ?? 0) + 1);
          skip = FRAME_HEADER_BYTES + length;
        }
      });
      upstream.pipe(client);
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
      }
    });
  }

  static async start(t: TestContext, manager: TestManager): Promise<FrameCounter> {
    const counter = new FrameCounter(Number(new URL(manager.url).port));
    counter.#server.listen(0, '127.0.0.1');
    await once(counter.#server, 'listening');
    t.after(() => counter.#server.close());
    return counter;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  sent(type: number): number {
    return this.#sent.get(type) ?? 0;
  }
}

async function setup(t: TestContext, laptopHandler = echoHandler('laptop')) {
  const app = await startApp(t, echoHandler('app'));
  const laptop = await startApp(t, laptopHandler);
  const manager = await startTestManager(t);
  const frames = await FrameCounter.start(t, manager);
  const agent = await agentFor(t, { appUrl: app.url, managerUrl: frames.url });
  await agentWatching(manager, agent.id);
  const alice = await startDaemon(manager, 'alice');
  await alice.intercept({ name: 'alice-orders', localPort: laptop.port });
  return { laptop, agent, alice, frames };
}

async function openConnections(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, count) => (err === null ? resolve(count) : reject(err))));
}

test('tunnels pooled for an intercept are ended, not reset, when it is left: no RST_STREAM reaches the manager', async (t) => {
  const tunnels = 20;
  // Every request waits until all have arrived, so that each needs a tunnel of its own and the pool holds them all.
  const waiting: Array<() => void> = [];
  const laptopEcho = echoHandler('laptop');
  const { laptop, agent, alice, frames } = await setup(t, (req, res) => {
    waiting.push(() => laptopEcho(req, res));
    if (waiting.length === tunnels) for (const answer of waiting.splice(0)) answer();
  });
  const clients = await Promise.all(Array.from({ length: tunnels }, () => RawClient.connect(t, agent.address.port)));
  for (const client of clients) client.send('GET /held HTTP/1.1\r\nHost: orders\r\nX-Telepresence-Id: alice\r\n\r\n');
  const answers = await Promise.all(clients.map(async (client) => json(await client.response()).tag));
  assert.deepEqual(new Set(answers), new Set(['laptop']));
  assert.equal(await openConnections(laptop.server), tunnels);

  await alice.leave('alice-orders');
  // Each ended tunnel reaches the laptop app as a FIN, and the app closes its side.
  await until(async () => (await openConnections(laptop.server)) === 0, 'the laptop app to see every tunnel closed');
  assert.equal(frames.sent(RST_STREAM), 0, 'RST_STREAM frames the agent sent');
  // The link is the one it started with, and it still routes.
  clients[0]!.send('GET /after HTTP/1.1\r\nHost: orders\r\nX-Telepresence-Id: alice\r\n\r\n');
  assert.equal(json(await clients[0]!.response()).tag, 'app');
});

test('a laptop app that closes every connection (Connection: close) costs no RST_STREAM per request', async (t) => {
  const laptopEcho = echoHandler('laptop');
  const { agent, frames } = await setup(t, (req, res) => {
    res.setHeader('connection', 'close');
    laptopEcho(req, res);
  });
  for (let i = 0; i < 20; i++) {
    // The agent passes the close on to its caller, so each request comes on a connection of its own.
    const client = await RawClient.connect(t, agent.address.port);
    client.send(`GET /close-${i} HTTP/1.1\r\nHost: orders\r\nX-Telepresence-Id: alice\r\n\r\n`);
    assert.equal(json(await client.response()).tag, 'laptop', `request ${i}`);
  }
  assert.equal(frames.sent(RST_STREAM), 0, 'RST_STREAM frames the agent sent');
});
