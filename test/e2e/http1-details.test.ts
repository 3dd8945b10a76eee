import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Environment } from './support/environment.js';

/** Writes raw request bytes and reads everything the agent sends until it closes the connection. */
async function raw(port: number, ...writes: string[]): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  for (const bytes of writes) socket.write(bytes, 'latin1');
  let text = '';
  for await (const chunk of socket) text += (chunk as Buffer).toString('latin1');
  return text;
}

/** Status lines in order, e.g. ['HTTP/1.1 200 OK', …] (a response may follow a body with no line break). */
function statusLines(text: string): string[] {
  return text.match(/HTTP\/1\.[01] \d{3} [^\r]*/g) ?? [];
}

/** The responses of a pipeline, split at their status lines. */
function responses(text: string): string[] {
  return text.split(/(?=HTTP\/1\.1 \d{3} )/);
}

/** The `app` fields of the JSON bodies, in order. */
function apps(text: string): string[] {
  return [...text.matchAll(/"app":"([^"]+)"/g)].map((m) => m[1]!);
}

interface Path {
  label: string;
  /** The routing header line ('' for unmatched traffic). */
  line: string;
  headers: Record<string, string>;
  app: string;
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, agentArgs: string[] = []) {
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.app('api');
  const agent = await env.agent('api', app.url, agentArgs);
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');
  const port = Number(new URL(agent.url).port);
  const paths: Path[] = [
    { label: 'unmatched', line: '', headers: {}, app: 'api' },
    { label: 'matched', line: `${name}: ${value}\r\n`, headers: { [name]: value }, app: 'alice-laptop' },
  ];
  return { port, paths, matched: paths[1]! };
}

test('HTTP/1.1 details on the unmatched and the matched path', { timeout: 120_000 }, async (t) => {
  const { port, paths, matched } = await setup(t);

  for (const path of paths) {
    await t.test(`${path.label}: pipelined requests are answered in order`, async () => {
      const text = await raw(
        port,
        `GET /anything?n=1 HTTP/1.1\r\nHost: api\r\n${path.line}\r\nGET /anything?n=2 HTTP/1.1\r\nHost: api\r\n${path.line}\r\n` +
          `GET /anything?n=3 HTTP/1.1\r\nHost: api\r\n${path.line}Connection: close\r\n\r\n`,
      );
      assert.equal(statusLines(text).length, 3);
      assert.deepEqual([...text.matchAll(/"path":"\/anything\?n=(\d)"/g)].map((m) => m[1]), ['1', '2', '3']);
      assert.deepEqual(apps(text), [path.app, path.app, path.app]);
    });

    await t.test(`${path.label}: HTTP/1.0, with and without keep-alive, and Connection: close`, async () => {
      const text10 = await raw(port, `GET /anything?v=10ka HTTP/1.0\r\nConnection: keep-alive\r\n${path.line}\r\nGET /anything?v=10 HTTP/1.0\r\n${path.line}\r\n`);
      assert.equal(statusLines(text10).length, 2);
      const [first, second] = responses(text10);
      assert.match(first!, /^connection: keep-alive\r$/im);
      assert.match(second!, /^connection: close\r$/im);
      assert.deepEqual(apps(text10), [path.app, path.app]);
      // The agent closes after a Connection: close request even though the client keeps its side open.
      const text11 = await raw(port, `GET /anything HTTP/1.1\r\nHost: api\r\nConnection: close\r\n${path.line}\r\n`);
      assert.match(text11, /^connection: close\r$/im);
      assert.deepEqual(apps(text11), [path.app]);
    });

    await t.test(`${path.label}: Expect: 100-continue gets 100 before the body is sent, then the final response`, async () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.write(`POST /upload HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n${path.line}\r\n`);
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      while (!text.includes('\r\n\r\n')) await once(socket, 'data');
      assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
      socket.write('hello');
      await once(socket, 'close');
      assert.deepEqual(statusLines(text), ['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK']);
      assert.match(text, new RegExp(`\\{"app":"${path.app}","bytes":5\\}`));
    });

    await t.test(`${path.label}: chunked request trailers (unmatched) and response trailers`, async () => {
      const text = await raw(port, `POST /trailers HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\nConnection: close\r\n${path.line}\r\n5\r\nhello\r\n0\r\nx-client-sum: 42\r\n\r\n`);
      assert.match(text, /^transfer-encoding: chunked\r$/im);
      assert.match(text, new RegExp(`\\r\\n0\\r\\nx-app: ${path.app}\\r\\n\\r\\n$`, 'i'));
      assert.match(text, /"bytes":5/);
      // Known gap: the daemon's undici client cannot send request trailers, so on the
      // matched path they reach the manager and the daemon but not the laptop app.
      if (path.label === 'unmatched') assert.match(text, /"trailers":\{"x-client-sum":"42"\}/);
    });

    await t.test(`${path.label}: HEAD, 204 and 304 carry no body and keep the connection in step`, async () => {
      const text = await raw(
        port,
        `HEAD /download?bytes=100 HTTP/1.1\r\nHost: api\r\n${path.line}\r\nGET /status/204 HTTP/1.1\r\nHost: api\r\n${path.line}\r\n` +
          `GET /status/304 HTTP/1.1\r\nHost: api\r\n${path.line}\r\nGET /anything HTTP/1.1\r\nHost: api\r\nConnection: close\r\n${path.line}\r\n`,
      );
      assert.deepEqual(
        statusLines(text).map((line) => line.slice(9, 12)),
        ['200', '204', '304', '200'],
      );
      const parts = responses(text);
      assert.match(parts[0]!, /^content-length: 100\r$/im);
      for (const response of parts.slice(0, 3)) assert.ok(response.endsWith('\r\n\r\n'), `a body followed: ${JSON.stringify(response)}`);
      assert.deepEqual(apps(text), [path.app]);
    });

    await t.test(`${path.label}: heads up to the 32 KiB limit pass, larger ones get 431`, async () => {
      const fits = await raw(port, `GET /anything HTTP/1.1\r\nHost: api\r\nx-big: ${'b'.repeat(30 * 1024)}\r\nConnection: close\r\n${path.line}\r\n`);
      assert.deepEqual(statusLines(fits), ['HTTP/1.1 200 OK']);
      assert.deepEqual(apps(fits), [path.app]);
      assert.equal(/"x-big":"(b+)"/.exec(fits)?.[1]?.length, 30 * 1024);
      const tooLarge = await raw(port, `GET /anything HTTP/1.1\r\nHost: api\r\nx-big: ${'b'.repeat(40 * 1024)}\r\n${path.line}\r\n`);
      assert.match(tooLarge, /^HTTP\/1\.1 431 /);
      assert.match(tooLarge, /DETOUR_ERR_AGENT_HEAD_TOO_LARGE/);
    });
  }

  // Both paths in one pipeline: each response comes back in request order, from its own target.
  await t.test('a pipeline mixing matched and unmatched requests is answered in order', async () => {
    const text = await raw(
      port,
      `GET /anything?n=1 HTTP/1.1\r\nHost: api\r\n${matched.line}\r\nGET /anything?n=2 HTTP/1.1\r\nHost: api\r\n\r\n` +
        `GET /anything?n=3 HTTP/1.1\r\nHost: api\r\n${matched.line}Connection: close\r\n\r\n`,
    );
    assert.deepEqual(apps(text), ['alice-laptop', 'api', 'alice-laptop']);
    assert.deepEqual([...text.matchAll(/"path":"\/anything\?n=(\d)"/g)].map((m) => m[1]), ['1', '2', '3']);
  });
});

/** Reads SSE events off a response as they arrive; `next()` resolves with the next event's data, or undefined at the end. */
class EventReader {
  #buffer = '';
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(response: http.IncomingMessage) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#wake?.();
    });
    response.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end !== -1) {
        const event = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return /^data: (.*)$/m.exec(event)?.[1];
      }
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

function get(port: number, path: string, headers: Record<string, string>): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers, agent: false }, resolve).on('error', reject);
  });
}

test('Server-Sent Events and long polls stream through, unbuffered and not cut by timeouts', { timeout: 120_000 }, async (t) => {
  // A short head timeout: a streaming response must outlive every agent timer.
  const headerTimeoutMs = 300;
  const { port, paths } = await setup(t, ['--header-timeout-ms', String(headerTimeoutMs)]);

  for (const path of paths) {
    await t.test(`${path.label}: SSE events arrive one by one`, async () => {
      const id = `sse-${path.label}`;
      const response = await get(port, `/sse?id=${id}`, path.headers);
      assert.equal(response.headers['content-type'], 'text/event-stream');
      const events = new EventReader(response);
      // The app writes event n+1 only after /next, which we call only after event n
      // arrived: any buffering on the way would stall this loop.
      for (let n = 1; n <= 3; n++) {
        assert.equal(await events.next(), `${path.app}-${n}`);
        if (n < 3) {
          const next = await get(port, `/next?id=${id}`, path.headers);
          next.resume();
          await once(next, 'end');
        }
      }
      assert.equal(await events.next(), undefined);
    });

    await t.test(`${path.label}: a long poll answers after a wait longer than the agent's timeouts`, async () => {
      const id = `poll-${path.label}`;
      const pending = get(port, `/long-poll?id=${id}`, path.headers);
      // The subject of this test is time passing: the poll must survive it.
      await delay(headerTimeoutMs * 4);
      const released = await get(port, `/next?id=${id}`, path.headers);
      let body = '';
      for await (const chunk of released) body += String(chunk);
      assert.deepEqual(JSON.parse(body), { released: true });
      const response = await pending;
      let text = '';
      for await (const chunk of response) text += String(chunk);
      assert.deepEqual(JSON.parse(text), { app: path.app, polled: id });
    });
  }
});
