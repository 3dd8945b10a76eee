import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { Client } from 'undici';
import { Environment } from './support/environment.js';
import { EchoClient, grpc, startGrpcApp } from './support/grpc-client.js';
import { stopProcess } from './support/processes.js';

// Issue 9: HTTP/1.1 and HTTP/2 (gRPC) callers are routed, limited and cleaned
// by one set of rules. Real manager, agents and daemons; the apps that must
// speak h2c are in-process servers.

const RELAY_OWNED = ['detour-intercept-id', 'detour-offline', 'detour-upstream-protocol'];
/** What a caller sends to try to smuggle relay fields; `detour-other` means nothing to detour and passes. */
const SMUGGLED = { 'detour-intercept-id': 'i-someone-else', 'detour-offline': '1', 'detour-upstream-protocol': 'h2', 'detour-other': 'kept' };
/** The agent's default `maxHeaderBytes` (32 KiB). */
const MAX_HEADER_BYTES = 32 * 1024;

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/**
 * An h2c app on 127.0.0.1:0 that answers with the raw fields it got, and a
 * `detour-offline` of its own. It takes as many fields as the agent does
 * (node's own default is 128), as the echo app takes heads up to 32 KiB.
 */
async function h2cApp(t: TestContext, name: string): Promise<number> {
  const server = http2.createServer({ maxHeaderListPairs: MAX_HEADER_BYTES }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'detour-offline': `from ${name}` });
      res.end(JSON.stringify({ app: name, rawHeaders: req.rawHeaders }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** One request on an HTTP/2 prior-knowledge session. */
async function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<Answer> {
  const stream = session.request({ ':path': '/anything', ...headers });
  stream.end();
  const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  let body = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
  await once(stream, 'end');
  return { status: Number(response[':status']), headers: response, body };
}

function fieldNames(rawHeaders: string[]): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
}

/** The raw answer of one HTTP/1.1 request on a fresh connection (the agent closes after a 431). */
async function rawHttp1(url: string, head: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(head);
  let answer = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
  await once(socket, 'close');
  return answer;
}

test('issue 9: HTTP/1.1 and HTTP/2 callers are matched, limited and cleaned alike', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  // One service, two agents: one in front of an HTTP/1.1 app, one in front of an h2c app.
  const web = await env.app('web');
  const h1Agent = await env.agent('web', web.url);
  const h2AppPort = await h2cApp(t, 'web-h2');
  const h2Agent = await env.agent('web', `http://127.0.0.1:${h2AppPort}`);
  // alice's laptop speaks HTTP/1.1 (the echo app), bob's h2c.
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  const [name, aliceValue] = await alice.interceptHeader('web');
  const bobLaptopPort = await h2cApp(t, 'bob-laptop');
  const bobIntercept = await bob.cli(['intercept', 'web', '--port', String(bobLaptopPort), '--output', 'json']);
  assert.equal(bobIntercept.code, 0, bobIntercept.stderr);
  const bobValue = (JSON.parse(bobIntercept.stdout) as { header: string }).header.split('=')[1]!;

  const h1 = new Client(h1Agent.url);
  t.after(() => h1.close());
  const h2 = http2.connect(h2Agent.url, { maxSendHeaderBlockLength: 256 * 1024 });
  t.after(() => h2.close());
  await once(h2, 'connect');

  await t.test('issue 9: a header sent twice matches if any value matches, on HTTP/2 as on HTTP/1.1', async () => {
    const viaH2 = await h2Request(h2, { [name]: ['carol', bobValue] });
    assert.equal((JSON.parse(viaH2.body) as { app: string }).app, 'bob-laptop');
    const viaH1 = await h1.request({ method: 'GET', path: '/anything', headers: [name, 'carol', name, aliceValue] });
    assert.equal(((await viaH1.body.json()) as { app: string }).app, 'alice-laptop');
    // Neither value matching: the app, on both.
    assert.equal((JSON.parse((await h2Request(h2, { [name]: ['carol', 'dave'] })).body) as { app: string }).app, 'web-h2');
  });

  await t.test('issue 9: relay-owned fields a caller sends reach neither the app nor a developer, on either protocol', async () => {
    for (const [what, headers] of [
      ['unmatched', {}],
      ['matched', { [name]: bobValue }],
    ] as const) {
      const answer = await h2Request(h2, { ...SMUGGLED, ...headers });
      const seen = JSON.parse(answer.body) as { app: string; rawHeaders: string[] };
      assert.equal(seen.app, what === 'matched' ? 'bob-laptop' : 'web-h2');
      const names = fieldNames(seen.rawHeaders);
      for (const owned of RELAY_OWNED) assert.ok(!names.includes(owned), `HTTP/2 ${what}: ${owned} reached ${seen.app}`);
      assert.ok(names.includes('detour-other'), `HTTP/2 ${what}: an unowned detour-* field passes`);
      // The app's own `detour-offline` does not come back either (and did not read as a refusal).
      assert.equal(answer.headers['detour-offline'], undefined);
    }
    for (const [what, headers] of [
      ['unmatched', {}],
      ['matched', { [name]: aliceValue }],
    ] as const) {
      const response = await h1.request({ method: 'GET', path: '/anything', headers: { ...SMUGGLED, ...headers } });
      const seen = (await response.body.json()) as { app: string; headers: Record<string, string> };
      assert.equal(seen.app, what === 'matched' ? 'alice-laptop' : 'web');
      for (const owned of RELAY_OWNED) assert.equal(seen.headers[owned], undefined, `HTTP/1.1 ${what}: ${owned} reached ${seen.app}`);
      assert.equal(seen.headers['detour-other'], 'kept');
    }
  });

  await t.test('issue 9: an HTTP/2 head over maxHeaderBytes gets the 431 JSON of HTTP/1.1; the session carries on', async () => {
    const big = 'b'.repeat(40 * 1024);
    const viaH2 = await h2Request(h2, { 'x-big': big });
    assert.equal(viaH2.status, 431);
    const error = (JSON.parse(viaH2.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE');
    const viaH1 = await rawHttp1(h1Agent.url, `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${big}\r\n\r\n`);
    assert.match(viaH1, /^HTTP\/1\.1 431 /);
    assert.ok(viaH1.includes(JSON.stringify(error.message)), 'the same message on both protocols');

    // Just under the limit, and more fields than node's default 128 (unmatched: the
    // manager and the daemon keep node's default on the relay legs): served.
    assert.equal((await h2Request(h2, { 'x-big': 'b'.repeat(MAX_HEADER_BYTES - 1024) })).status, 200);
    const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`x-f${i}`, 'v']));
    assert.equal((await h2Request(h2, many)).status, 200);
    assert.equal((await h2Request(h2, { [name]: bobValue })).status, 200, 'the same session still routes');
  });

  await t.test('issue 9: gRPC metadata added twice matches; oversized metadata is RESOURCE_EXHAUSTED', async () => {
    const cluster = await startGrpcApp('cluster');
    const laptop = await startGrpcApp('alice-grpc-laptop');
    t.after(() => Promise.all([cluster, laptop].map((app) => stopProcess(app.child))));
    const agent = await env.agent('greeter', cluster.value);
    const made = await alice.cli(['intercept', 'greeter', '--port', new URL(laptop.value).port, '--output', 'json']);
    assert.equal(made.code, 0, made.stderr);
    const [header, value] = (JSON.parse(made.stdout) as { header: string }).header.split('=') as [string, string];
    const client = new EchoClient(new URL(agent.url).host);
    t.after(() => client.close());

    const twice = new grpc.Metadata();
    twice.add(header, 'carol');
    twice.add(header, value);
    assert.equal((await client.unary('hi', twice)).reply?.servedBy, 'alice-grpc-laptop');

    const huge = new grpc.Metadata();
    huge.set('x-big', 'b'.repeat(40 * 1024));
    const { error } = await client.unary('hi', huge);
    assert.equal(error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(error!.details, new RegExp(`request head exceeds ${MAX_HEADER_BYTES} bytes`));
    assert.equal((await client.unary('hi')).reply?.servedBy, 'cluster', 'the channel still works');
  });
});
