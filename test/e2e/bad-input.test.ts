import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Client } from 'undici';
import { Environment } from './support/environment.js';

/** Sends raw bytes on a fresh connection and returns everything the agent answers until it closes. */
async function raw(url: string, bytes: string | Buffer, options: { end?: boolean } = {}): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(bytes);
  if (options.end === true) socket.end();
  let answer = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
  await once(socket, 'close');
  return answer;
}

test('malformed requests, oversized heads and slow heads get clear errors while a parallel good connection keeps working', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.app('api');
  // An http1 port: the agent itself judges every byte (an auto port would hand
  // non-HTTP bytes to the app, as the next test shows).
  const agent = await env.agent('api', app.url, ['--protocol', 'http1']);
  const alice = await env.developer('alice');
  const [name, value] = await alice.interceptHeader('api');

  // The good connection: opened first, used between every bad one.
  const good = new Client(agent.url);
  t.after(() => good.close());
  const check = async () => {
    const plain = await good.request({ method: 'GET', path: '/ok' });
    assert.equal(((await plain.body.json()) as { app: string }).app, 'api');
    const mine = await good.request({ method: 'GET', path: '/ok', headers: { [name]: value } });
    assert.equal(((await mine.body.json()) as { app: string }).app, 'alice-laptop');
  };
  await check();

  // Every one of these must be judged by the agent itself: a 400 with its own JSON error, then close.
  const cases: Array<[string, string]> = [
    ['garbage request line', 'HELLO\r\n\r\n'],
    ['smuggling: both Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['unsupported HTTP version', 'GET / HTTP/3.0\r\nHost: a\r\n\r\n'],
  ];
  for (const [what, bytes] of cases) {
    const answer = await raw(agent.url, bytes);
    assert.match(answer, /^HTTP\/1\.1 400 /, what);
    assert.match(answer, /"code":"DETOUR_ERR_AGENT_BAD_REQUEST"/, `${what}: the agent's JSON error`);
    await check();
  }

  const huge = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`;
  assert.match(await raw(agent.url, huge), /^HTTP\/1\.1 431 [\s\S]*DETOUR_ERR_AGENT_HEAD_TOO_LARGE/);
  await check();
});

test('a client that never finishes its head is answered 408 and closed after the header timeout', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.app('api');
  const agent = await env.agent('api', app.url, ['--header-timeout-ms', '300']);
  const good = new Client(agent.url);
  t.after(() => good.close());

  const slow = raw(agent.url, 'GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ');
  // While the slow client hangs, the good connection is served.
  const response = await good.request({ method: 'GET', path: '/' });
  assert.equal(response.statusCode, 200);
  await response.body.text();
  assert.match(await slow, /^HTTP\/1\.1 408 [\s\S]*DETOUR_ERR_AGENT_HEAD_TIMEOUT/);
});

test('on an auto port, bytes that are not HTTP go to the app untouched', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.app('api');
  const agent = await env.agent('api', app.url);
  // The echo app is node:http, which answers garbage with its own bare 400: proof the bytes reached it.
  assert.equal(await raw(agent.url, 'HELLO\r\n\r\n'), 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});
