import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import type { AgentProcessMessage } from './fixtures/agent-process.js';
import { RawClient, TOKEN, agentFor, echoHandler, field, json, startApp, until } from './helpers.js';

// No manager is needed for unmatched traffic: it must work while the manager is unreachable.
// firstRulesTimeoutMs 0: these agents will never get a rule set, so nothing waits for one.
const NO_MANAGER = { managerUrl: 'http://127.0.0.1:9', firstRulesTimeoutMs: 0 };

test('keep-alive connection: many requests, raw head forwarded unchanged, app keep-alive lines dropped', async (t) => {
  const app = await startApp(t, echoHandler());
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const client = await RawClient.connect(t, agent.address.port);
  for (let i = 0; i < 5; i++) {
    client.send(`GET /items/${i}?q=1 HTTP/1.1\r\nHost: orders.local\r\nX-Mixed-Case: Value\r\n\r\n`);
    const res = await client.response();
    assert.equal(res.status, 200);
    const seen = json(res);
    assert.equal(seen.url, `/items/${i}?q=1`);
    assert.deepEqual(seen.rawHeaders, ['Host', 'orders.local', 'X-Mixed-Case', 'Value']);
    // Node's `Connection: keep-alive` and `Keep-Alive` are hop-by-hop: not passed on.
    assert.equal(field(res, 'connection'), undefined);
    assert.equal(field(res, 'keep-alive'), undefined);
  }
});

test('hop-by-hop request fields are removed, including those Connection names (RFC 9110 §7.6.1)', async (t) => {
  const app = await startApp(t, echoHandler());
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET / HTTP/1.1\r\nHost: h\r\nConnection: x-private, keep-alive\r\nX-Private: secret\r\nKeep-Alive: 30\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n');
  const seen = json(await client.response());
  assert.deepEqual(seen.rawHeaders, ['Host', 'h', 'X-Kept', 'yes']);
});

test('pipelined requests are answered in order', async (t) => {
  const app = await startApp(t, (req, res) => {
    // Answer the first request last, so ordering is the agent's doing.
    const delay = req.url === '/0' ? 30 : 0;
    setTimeout(() => res.end(req.url), delay);
  });
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const client = await RawClient.connect(t, agent.address.port);
  let batch = '';
  for (let i = 0; i < 10; i++) batch += `GET /${i} HTTP/1.1\r\nHost: h\r\n\r\n`;
  batch += 'POST /body HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /last HTTP/1.1\r\nHost: h\r\n\r\n';
  client.send(batch);
  for (let i = 0; i < 10; i++) assert.equal((await client.response()).body.toString(), `/${i}`);
  assert.equal((await client.response()).body.toString(), '/body');
  assert.equal((await client.response()).body.toString(), '/last');
});

test('chunked request bodies with extensions and trailers reach the app; chunked responses come back', async (t) => {
  const app = await startApp(t, (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-sum' });
      res.write('got:');
      res.write(Buffer.concat(parts));
      res.addTrailers({ 'x-sum': String(req.trailers['x-check']) });
      res.end();
    });
  });
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n');
  client.send('6\r\n world\r\n0\r\nX-Check: 42\r\n\r\n');
  const res = await client.response();
  assert.equal(res.status, 200);
  assert.equal(field(res, 'transfer-encoding'), 'chunked');
  assert.equal(res.body.toString(), 'got:hello world');
  assert.deepEqual(res.trailers, [['x-sum', '42']]);
});

test('HTTP/1.0 and Connection: close clients get their answer and a closed connection', async (t) => {
  const app = await startApp(t, echoHandler());
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const old = await RawClient.connect(t, agent.address.port);
  old.send('GET /old HTTP/1.0\r\n\r\n');
  const res10 = await old.response();
  assert.equal(res10.status, 200);
  assert.equal(json(res10).url, '/old');
  await old.closed();

  // A length-delimited answer lets a 1.0 keep-alive client keep its connection.
  const sized = await startApp(t, (req, res) => res.writeHead(200, { 'content-length': String(req.url!.length) }).end(req.url));
  const sizedAgent = await agentFor(t, { appUrl: sized.url, ...NO_MANAGER });
  const kept = await RawClient.connect(t, sizedAgent.address.port);
  kept.send('GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  const first = await kept.response();
  assert.equal(field(first, 'connection'), 'keep-alive');
  kept.send('GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.equal((await kept.response()).body.toString(), '/b');

  const closing = await RawClient.connect(t, agent.address.port);
  closing.send('GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  const res = await closing.response();
  assert.equal(field(res, 'connection'), 'close');
  assert.equal((json(res).headers as Record<string, string>).connection, undefined, 'close is not forwarded: the app connection stays pooled');
  await closing.closed();
});

test('HEAD, 204 and 304 responses carry no body; 100-continue passes through', async (t) => {
  const app = await startApp(t, (req, res) => {
    if (req.url === '/204') res.writeHead(204).end();
    else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end();
    else {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello'));
    }
  });
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('HEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n');
  const head = await client.response('HEAD');
  assert.equal(field(head, 'content-length'), '5');
  assert.equal(head.body.length, 0);
  assert.equal((await client.response()).status, 204);
  assert.equal((await client.response()).status, 304);
  assert.equal((await client.response()).body.toString(), 'hello');
  client.send('POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n');
  assert.equal((await client.response()).status, 100);
  client.send('abc');
  assert.equal((await client.response()).body.toString(), 'hello');
});

/** 64 KiB chunks that differ from each other (each starts with its index), so a lost, repeated or reordered chunk changes the digest. */
function patternChunk(index: number, base: Buffer): Buffer {
  const chunk = Buffer.from(base);
  chunk.writeUInt32BE(index, 0);
  return chunk;
}

/** Starts an agent in a child process (fixtures/agent-process.ts) and reads its memory over IPC. */
async function agentProcess(t: TestContext, options: { appUrl: string; managerUrl: string; firstRulesTimeoutMs?: number }) {
  const child = fork(fileURLToPath(new URL('./fixtures/agent-process.js', import.meta.url)), [JSON.stringify({ service: 'orders', token: TOKEN, ...options })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  t.after(() => child.kill());
  const next = async () => ((await once(child, 'message')) as [AgentProcessMessage])[0];
  const { port } = (await next()) as { port: number };
  return {
    port,
    memory: async () => {
      child.send('memory');
      return (await next()) as { rssBytes: number; maxRssBytes: number };
    },
  };
}

test('large bodies stream both ways with bounded memory: every byte arrives, in order, and the agent holds a fraction of the body', async (t) => {
  // Past the ~40 MiB an agent's heap settles at under this load (measured: +13 MiB for 16 MiB bodies,
  // +35 for 64, +38 for 256), so a body held whole (+128 MiB) stands out from garbage not yet collected.
  const size = 128 * 1024 * 1024;
  const base = randomBytes(64 * 1024);
  const chunks = size / base.length;
  const expected = createHash('sha256');
  for (let i = 0; i < chunks; i++) expected.update(patternChunk(i, base));
  const digest = expected.digest('hex');

  const app = await startApp(t, (req, res) => {
    let bytes = 0;
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-length': String(size), 'x-received': String(bytes), 'x-received-sha256': hash.digest('hex') });
      let sent = 0;
      const pump = () => {
        while (sent < chunks) {
          if (!res.write(patternChunk(sent++, base))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
  });
  // The agent runs in its own process: the app and this client also hold the bodies' chunks, and in
  // one process their garbage would hide (or fake) what the agent keeps.
  const agent = await agentProcess(t, { appUrl: app.url, ...NO_MANAGER });
  const warm = await RawClient.connect(t, agent.port);
  warm.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal((await warm.response()).status, 200);
  const before = await agent.memory();

  const socket = net.connect(agent.port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  socket.write(`POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: ${size}\r\n\r\n`);
  for (let i = 0; i < chunks; i++) {
    if (!socket.write(patternChunk(i, base))) await once(socket, 'drain');
  }
  let head = Buffer.alloc(0);
  let bodyBytes = -1;
  const hash = createHash('sha256');
  for await (const data of socket as AsyncIterable<Buffer>) {
    let body = data;
    if (bodyBytes < 0) {
      head = Buffer.concat([head, data]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) continue;
      body = head.subarray(end + 4);
      head = head.subarray(0, end);
      bodyBytes = 0;
    }
    bodyBytes += body.length;
    hash.update(body);
    if (bodyBytes >= size) break;
  }
  const headText = head.toString('latin1');
  assert.match(headText, new RegExp(`\r\nx-received: ${size}\r\n`, 'i'), 'the app got the whole upload');
  assert.match(headText, new RegExp(`\r\nx-received-sha256: ${digest}\r\n`, 'i'), 'the app got the upload unchanged, in order');
  assert.equal(bodyBytes, size, 'the whole download came back');
  assert.equal(hash.digest('hex'), digest, 'the download came back unchanged, in order');
  const after = await agent.memory();
  // 128 MiB went each way; an agent that held a body whole would peak at least that much above where it started.
  const growthBytes = after.maxRssBytes - before.rssBytes;
  assert.ok(growthBytes < 64 * 1024 * 1024, `the agent's peak RSS grew by ${(growthBytes / 1048576).toFixed(1)} MiB`);
});

test('bad input gets 400/431/408 and closes, while a parallel good connection keeps working', async (t) => {
  const app = await startApp(t, echoHandler());
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER, headerTimeoutMs: 200, maxHeaderBytes: 1024 });
  const good = await RawClient.connect(t, agent.address.port);
  const check = async () => {
    good.send('GET /good HTTP/1.1\r\nHost: h\r\n\r\n');
    assert.equal(json(await good.response()).url, '/good');
  };
  await check();

  const cases: Array<[string, number, string]> = [
    ['GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400, 'DETOUR_ERR_AGENT_BAD_REQUEST'],
    ['GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n folded\r\n\r\n', 400, 'DETOUR_ERR_AGENT_BAD_REQUEST'],
    ['GET / HTTP/1.1\nHost: h\n\n', 400, 'DETOUR_ERR_AGENT_BAD_REQUEST'],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400, 'DETOUR_ERR_AGENT_BAD_REQUEST'],
    [`GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`, 431, 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE'],
    ['GET / HTTP/1.1\r\nHost: h\r\n', 408, 'DETOUR_ERR_AGENT_HEAD_TIMEOUT'],
  ];
  for (const [input, status, code] of cases) {
    const bad = await RawClient.connect(t, agent.address.port);
    bad.send(input);
    const res = await bad.response();
    assert.equal(res.status, status, JSON.stringify(input));
    assert.equal(field(res, 'connection'), 'close');
    const body = json(res) as { error: { code: string; message: string } };
    assert.equal(body.error.code, code);
    assert.ok(body.error.message.length > 0);
    await bad.closed();
    await check();
  }
});

test('app unreachable: 502 with the error code; other connections unaffected', async (t) => {
  const closed = net.createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  const agent = await agentFor(t, { appUrl: `http://127.0.0.1:${port}`, ...NO_MANAGER });
  for (let i = 0; i < 2; i++) {
    const client = await RawClient.connect(t, agent.address.port);
    client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    const res = await client.response();
    assert.equal(res.status, 502);
    assert.equal((json(res) as { error: { code: string } }).error.code, 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE');
  }
});

test('a pooled app connection closed by the app is retried once for an idempotent request', async (t) => {
  let requests = 0;
  const app = await startApp(t, (_req, res) => {
    requests += 1;
    res.end(`n=${requests}`);
  });
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal((await client.response()).body.toString(), 'n=1');
  // The app drops its idle keep-alive connection, as its keepAliveTimeout would.
  app.server.closeIdleConnections();
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  const res = await client.response();
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'n=2');
});

test('close() drains: an in-flight response completes, then the agent stops', async (t) => {
  let release: (() => void) | undefined;
  const app = await startApp(t, (_req, res) => {
    release = () => res.end('done');
  });
  const agent = await agentFor(t, { appUrl: app.url, ...NO_MANAGER });
  const client = await RawClient.connect(t, agent.address.port);
  client.send('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
  await until(() => release !== undefined, 'the request to reach the app');
  const closing = agent.close();
  release!();
  assert.equal((await client.response()).body.toString(), 'done');
  await client.closed();
  await closing;
  await agent.close();
});
