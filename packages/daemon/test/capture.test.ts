import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CapturedExchange } from '@detour/dashboard-ui/model';
import { BodyPrefix } from '../src/capture/body-prefix.js';
import { ExchangeRing, exchangeBytes } from '../src/capture/exchange-ring.js';
import { Http1Observer } from '../src/capture/http1-observer.js';

function fake(ring: ExchangeRing, bodyBytes = 0): CapturedExchange {
  return {
    id: ring.nextId(),
    interceptId: 'i',
    protocol: 'http/1.1',
    startedAt: 0,
    method: 'GET',
    path: '/',
    requestHeaders: [],
    requestBody: { base64: Buffer.alloc(bodyBytes).toString('base64'), bytes: bodyBytes, truncated: false },
    state: 'pending',
  };
}

test('the ring keeps the last N exchanges, newest first', () => {
  const ring = new ExchangeRing({ maxExchanges: 3, maxBytes: 1024 * 1024 });
  const seen: number[] = [];
  const dropped: number[] = [];
  ring.subscribe({ put: (e) => seen.push(e.id), dropped: (ids) => dropped.push(...ids) });
  for (let i = 0; i < 5; i++) ring.put(fake(ring));
  assert.deepEqual(ring.list().map((e) => e.id), [5, 4, 3]);
  assert.equal(ring.size, 3);
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  assert.deepEqual(dropped, [1, 2]);
});

test('the ring stays within its byte budget, and an update of a dropped exchange is dropped too', () => {
  const ring = new ExchangeRing({ maxExchanges: 100, maxBytes: 10_000 });
  const first = fake(ring, 3000);
  ring.put(first);
  for (let i = 0; i < 4; i++) ring.put(fake(ring, 3000));
  assert.ok(ring.bytes <= 10_000, `${ring.bytes}`);
  assert.deepEqual(ring.list().map((e) => e.id), [5, 4]);
  // The answer to an exchange the budget pushed out does not bring it back (out of order).
  ring.put({ ...first, state: 'complete', status: 200 });
  assert.equal(ring.get(first.id), undefined);
  assert.deepEqual(ring.list().map((e) => e.id), [5, 4]);
  // An update grows an exchange in place and re-checks the budget.
  const last = ring.get(5)!;
  ring.put({ ...last, responseBody: { base64: Buffer.alloc(6000).toString('base64'), bytes: 6000, truncated: false } });
  assert.deepEqual(ring.list().map((e) => e.id), [5]);
  assert.equal(ring.bytes, exchangeBytes(ring.get(5)!));
  // Alone over budget, the newest still stays: its bodies are bounded anyway.
  ring.put(fake(ring, 20_000));
  assert.deepEqual(ring.list().map((e) => e.id), [6]);
  ring.clear();
  assert.equal(ring.size, 0);
  assert.equal(ring.bytes, 0);
});

test('a body prefix keeps the first bytes and counts all of them', () => {
  const prefix = new BodyPrefix(10);
  prefix.add(Buffer.from('hello '));
  prefix.add(Buffer.from('xxworld!!'), 2, 9);
  prefix.add(Buffer.from('more'));
  assert.deepEqual(prefix.toCaptured(), { base64: Buffer.from('hello worl').toString('base64'), bytes: 17, truncated: true });
});

const CONVERSATION = {
  requests: [
    'POST /a?x=1 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer t\r\nContent-Length: 5\r\n\r\nhello',
    'PUT /b HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-sum: 5\r\n\r\n',
    'GET /c HTTP/1.1\r\nHost: api\r\n\r\n',
  ].join(''),
  responses: [
    'HTTP/1.1 100 Continue\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}',
    'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nmade\r\n0\r\nx-done: yes\r\n\r\n',
    'HTTP/1.1 204 No Content\r\n\r\n',
  ].join(''),
};

/** Feeds both directions in pieces of `size` bytes, requests first, as a pipelining client would. */
function observe(size: number): CapturedExchange[] {
  const ring = new ExchangeRing({ maxExchanges: 10, maxBytes: 1024 * 1024 });
  const observer = new Http1Observer(ring, { interceptId: 'i1', interceptName: 'api', service: 'api' });
  const feed = (text: string, into: (b: Buffer) => void) => {
    const bytes = Buffer.from(text, 'latin1');
    for (let i = 0; i < bytes.length; i += size) into(bytes.subarray(i, i + size));
  };
  feed(CONVERSATION.requests, (b) => observer.request(b));
  feed(CONVERSATION.responses, (b) => observer.response(b));
  observer.end();
  return ring.list().reverse();
}

test('the HTTP/1.1 observer follows pipelined exchanges, bodies and trailers, however the bytes are split', () => {
  for (const size of [1, 2, 3, 7, 64, 10_000]) {
    const [a, b, c, ...rest] = observe(size);
    assert.equal(rest.length, 0, `split ${size}`);
    assert.ok(a && b && c);
    assert.equal(a.method, 'POST');
    assert.equal(a.path, '/a?x=1');
    assert.equal(a.authority, 'api');
    assert.deepEqual(a.requestHeaders, [['host', 'api'], ['authorization', 'Bearer t'], ['content-length', '5']]);
    assert.equal(Buffer.from(a.requestBody.base64, 'base64').toString(), 'hello');
    assert.equal(a.status, 200);
    assert.equal(a.state, 'complete');
    assert.equal(Buffer.from(a.responseBody!.base64, 'base64').toString(), '{"ok":true}');
    assert.equal(b.method, 'PUT');
    assert.equal(Buffer.from(b.requestBody.base64, 'base64').toString(), 'abcde');
    assert.deepEqual(b.requestTrailers, [['x-sum', '5']]);
    assert.equal(b.status, 201);
    assert.equal(Buffer.from(b.responseBody!.base64, 'base64').toString(), 'made');
    assert.deepEqual(b.responseTrailers, [['x-done', 'yes']]);
    assert.equal(c.status, 204);
    assert.equal(c.state, 'complete');
    assert.equal(c.service, 'api');
  }
});

test('the HTTP/1.1 observer gives up quietly on bytes that are not HTTP, and marks what was left unanswered', () => {
  const ring = new ExchangeRing({ maxExchanges: 10, maxBytes: 1024 * 1024 });
  const observer = new Http1Observer(ring, { interceptId: 'i1' });
  observer.request(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
  observer.response(Buffer.from('NOT HTTP AT ALL\r\n\r\n'));
  observer.response(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
  const [only] = ring.list();
  assert.equal(only?.state, 'error');
  assert.match(only?.error ?? '', /capture stopped on this connection/);
  // A close-delimited answer completes at the end of the connection.
  const closing = new Http1Observer(ring, { interceptId: 'i1' });
  closing.request(Buffer.from('GET /stream HTTP/1.1\r\nHost: a\r\n\r\n'));
  closing.response(Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one, '));
  closing.response(Buffer.from('part two'));
  closing.end();
  const done = ring.list()[0]!;
  assert.equal(done.state, 'complete');
  assert.equal(Buffer.from(done.responseBody!.base64, 'base64').toString(), 'part one, part two');
  // An upgrade is recorded with its 101; what follows is not read as HTTP.
  const upgrade = new Http1Observer(ring, { interceptId: 'i1' });
  upgrade.request(Buffer.from('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'));
  upgrade.response(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x02hi'));
  const ws = ring.list()[0]!;
  assert.equal(ws.path, '/ws');
  assert.equal(ws.status, 101);
  assert.equal(ws.state, 'complete');
});
