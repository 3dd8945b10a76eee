import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { Client } from 'undici';
import { Environment } from './support/environment.js';
import { eventually } from './support/processes.js';

/**
 * Well under every timer that could end a hung exchange instead of the fix
 * (the agent's 4 s upstream idle and 10 s head timeouts, a caller's own 90 s):
 * a failing laptop app must be answered about as fast as a failing app (ms).
 */
const PROMPT_MS = 2_000;

/**
 * A developer's laptop app that misbehaves on purpose, chosen by the request
 * path. It runs in this process: the daemon dials 127.0.0.1:<port> as it would
 * any local app. Each connection it accepts is one tunnel stream of the agent.
 */
async function brokenApp(): Promise<{ port: number; connections: () => number; lingering: () => number; close: () => void }> {
  let connections = 0;
  /** Sockets the app has ended (sent its FIN) that the daemon has not closed yet. */
  const ended = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections += 1;
    socket.on('error', () => undefined);
    socket.on('finish', () => ended.add(socket));
    socket.on('close', () => ended.delete(socket));
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      // Bodiless GETs only: each request is its head; pipelined ones are answered in order.
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1 && !socket.writableEnded && !socket.destroyed; end = pending.indexOf('\r\n\r\n')) {
        const path = pending.slice(0, pending.indexOf('\r\n')).split(' ')[1];
        pending = pending.slice(end + 4);
        answer(socket, path);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections, lingering: () => ended.size, close: () => server.close() };
}

function answer(socket: net.Socket, path: string | undefined): void {
  switch (path) {
    case '/destroy': // reads the request, then drops the connection unanswered
      socket.destroy();
      return;
    case '/partial': // promises 100 bytes, sends 3, closes
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc');
      return;
    case '/close-delimited': // a complete response whose end is the FIN (RFC 9112 §6.3 rule 8)
      socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\ncomplete');
      return;
    case '/length-then-fin': // a complete response, then a half-close without announcing it
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ncomplete');
      return;
    default: // keep-alive
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  }
}

/** Writes raw bytes and reads until the agent closes the connection; fails past `PROMPT_MS`. */
async function untilClosed(port: number, bytes: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.write(bytes, 'latin1');
  const timer = setTimeout(() => socket.destroy(new Error('hung')), PROMPT_MS);
  const startedAt = Date.now();
  await once(socket, 'close');
  clearTimeout(timer);
  const elapsedMs = Date.now() - startedAt;
  assert.ok(elapsedMs < PROMPT_MS, `the connection was still open after ${elapsedMs} ms; received ${JSON.stringify(text)}`);
  return text;
}

function statusLines(text: string): string[] {
  return text.match(/HTTP\/1\.[01] \d{3} [^\r]*/g) ?? [];
}

/** The detour error of a single JSON error response. */
function errorOf(text: string): { code: string; message: string } {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return (JSON.parse(body) as { error: { code: string; message: string } }).error;
}

interface Path {
  label: string;
  port: number;
  /** The routing header line ('' for unmatched traffic). */
  line: string;
  /** Who a failure names, and with which code. */
  name: RegExp;
  code: string;
}

test('issue 9: a laptop app that closes early ends the matched exchange as a failing app ends an unmatched one', { timeout: 180_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const broken = await brokenApp();
  t.after(() => broken.close());
  const h2only = http2.createServer();
  h2only.listen(0, '127.0.0.1');
  await once(h2only, 'listening');
  t.after(() => h2only.close());
  const h2onlyPort = (h2only.address() as net.AddressInfo).port;

  // The same broken apps as a service's own app (unmatched) and as alice's laptop app (matched, on api).
  const api = await env.service('api');
  const brokenAgent = await env.agent('broken', `http://127.0.0.1:${broken.port}`);
  const h2onlyAgent = await env.agent('h2only', `http://127.0.0.1:${h2onlyPort}`);
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  for (const [name, port] of [['closer', broken.port], ['h2c', h2onlyPort]] as const) {
    const created = await alice.cli(['intercept', 'api', '--port', String(port), '--http-header', `x-telepresence-id=${name}`, '--name', name]);
    assert.equal(created.code, 0, created.stderr);
  }
  const [bobName, bobValue] = await bob.interceptHeader('api');
  const apiPort = Number(new URL(api.agentUrls[0]!).port);
  const portOf = (url: string) => Number(new URL(url).port);
  const unmatched = { line: '', name: /the app at 127\.0\.0\.1:\d+/, code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE' };
  const matched = { line: 'x-telepresence-id: closer\r\n', name: /the local app of alice/, code: 'DETOUR_ERR_LOCAL_APP_UNREACHABLE' };
  const paths: Path[] = [
    { label: 'unmatched', port: portOf(brokenAgent.url), ...unmatched },
    { label: 'matched', port: apiPort, ...matched },
  ];
  const h2Paths: Path[] = [
    { label: 'unmatched', port: portOf(h2onlyAgent.url), ...unmatched },
    { label: 'matched', port: apiPort, ...matched, line: 'x-telepresence-id: h2c\r\n' },
  ];

  // Everyone else on the agent: one kept-alive connection used between the failures.
  const others = new Client(api.agentUrls[0]!, { pipelining: 1, headersTimeout: PROMPT_MS, bodyTimeout: PROMPT_MS });
  t.after(() => others.close());
  async function othersUnaffected(): Promise<void> {
    for (const [headers, expected] of [[{ [bobName]: bobValue }, 'bob-laptop'], [{}, 'api']] as const) {
      const response = await others.request({ method: 'GET', path: '/anything', headers });
      assert.equal(response.statusCode, 200);
      assert.equal(((await response.body.json()) as { app: string }).app, expected);
    }
  }
  await othersUnaffected();

  for (const path of paths) {
    await t.test(`${path.label}: an app that reads the request and drops the connection gets a prompt 502, and the connection is closed`, async () => {
      // A second request pipelined behind the failing one: the agent answers the
      // first and closes (the same on both paths), it never leaves the second waiting.
      const text = await untilClosed(path.port, `GET /destroy HTTP/1.1\r\nHost: api\r\n${path.line}\r\nGET /ok HTTP/1.1\r\nHost: api\r\n${path.line}\r\n`);
      assert.deepEqual(statusLines(text), ['HTTP/1.1 502 Bad Gateway']);
      assert.match(text, /^connection: close\r$/im);
      const error = errorOf(text);
      assert.equal(error.code, path.code);
      assert.match(error.message, path.name);
      assert.match(error.message, /connection closed without a response/);
      await othersUnaffected();
    });

    await t.test(`${path.label}: a response cut short by the app's close closes the caller's connection at once`, async () => {
      const text = await untilClosed(path.port, `GET /partial HTTP/1.1\r\nHost: api\r\n${path.line}\r\n`);
      assert.equal(text, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc');
      await othersUnaffected();
    });

    await t.test(`${path.label}: complete responses followed by the app's FIN still work`, async () => {
      const closeDelimited = await untilClosed(path.port, `GET /close-delimited HTTP/1.1\r\nHost: api\r\n${path.line}\r\n`);
      assert.deepEqual(statusLines(closeDelimited), ['HTTP/1.1 200 OK']);
      assert.match(closeDelimited, /\r\n\r\ncomplete$/);
      // Pipelined: each next request may land on the connection just released as
      // the FIN arrives, which must then be retried on a fresh one, never wait.
      const lengthThenFin = await untilClosed(
        path.port,
        `GET /length-then-fin HTTP/1.1\r\nHost: api\r\n${path.line}\r\n`.repeat(3) + `GET /ok HTTP/1.1\r\nHost: api\r\nConnection: close\r\n${path.line}\r\n`,
      );
      assert.deepEqual(statusLines(lengthThenFin), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
      assert.equal(lengthThenFin.match(/\r\n\r\ncomplete/g)?.length, 3);
      await othersUnaffected();
    });
  }

  for (const path of h2Paths) {
    await t.test(`${path.label}: a port that speaks only h2c gets a prompt 502`, async () => {
      const text = await untilClosed(path.port, `GET / HTTP/1.1\r\nHost: api\r\n${path.line}\r\n`);
      assert.deepEqual(statusLines(text), ['HTTP/1.1 502 Bad Gateway']);
      const error = errorOf(text);
      assert.equal(error.code, path.code);
      assert.match(error.message, path.name);
      await othersUnaffected();
    });
  }

  await t.test('every connection the app closed is closed by the daemon too: nothing on the way is left half-open', async () => {
    await eventually('the daemon closes its side', async () => (broken.lingering() === 0 ? true : undefined), PROMPT_MS);
  });

  await t.test('a kept-alive client goes on after a failure, and a steady stream of matched requests opens no tunnel per request', async () => {
    const client = new Client(api.agentUrls[0]!, { pipelining: 1, headersTimeout: PROMPT_MS, bodyTimeout: PROMPT_MS });
    t.after(() => client.close());
    const asAlice = { 'x-telepresence-id': 'closer' };
    const first = await client.request({ method: 'GET', path: '/ok', headers: asAlice });
    assert.equal(await first.body.text(), 'ok');
    const failed = await client.request({ method: 'GET', path: '/destroy', headers: asAlice });
    assert.equal(failed.statusCode, 502);
    assert.equal(((await failed.body.json()) as { error: { code: string } }).error.code, 'DETOUR_ERR_LOCAL_APP_UNREACHABLE');
    const after = await client.request({ method: 'GET', path: '/ok', headers: asAlice });
    assert.equal(after.statusCode, 200);
    assert.equal(await after.body.text(), 'ok');

    // The laptop app accepts one connection per tunnel stream: a warm pool needs none.
    const requests = 50;
    const before = broken.connections();
    for (let i = 0; i < requests; i += 1) {
      const response = await client.request({ method: 'GET', path: '/ok', headers: asAlice });
      assert.equal(await response.body.text(), 'ok');
    }
    assert.equal(broken.connections() - before, 0, `${requests} sequential requests on a warm pool opened new tunnel streams`);
    await othersUnaffected();
  });
});
