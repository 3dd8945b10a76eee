import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldNameSet, findHeadEnd, isDetourError, parseRequestHead, targetPath } from '../src/index.js';
import { bytewise, parseStream, splits } from './http1-harness.js';

const CODE = 'DETOUR_ERR_AGENT_BAD_REQUEST';

function head(text: string, capture?: FieldNameSet) {
  const buf = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buf, 0, 0, buf.length, CODE);
  assert.notEqual(end, -1, 'head is complete');
  return parseRequestHead(buf, 0, end, capture);
}

function rejects(text: string, pattern: RegExp) {
  assert.throws(
    () => parseStream([Buffer.from(text, 'latin1')]),
    (err: unknown) => isDetourError(err) && err.code === CODE && pattern.test(err.message),
    JSON.stringify(text),
  );
}

test('parses a simple GET and reports no hop-by-hop lines (the fast path)', () => {
  const h = head('GET /a/b?x=1 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n');
  assert.equal(h.method, 'GET');
  assert.equal(h.target, '/a/b?x=1');
  assert.equal(h.minor, 1);
  assert.equal(h.host, 'example');
  assert.equal(h.keepAlive, true);
  assert.equal(h.contentLength, -1);
  assert.equal(h.chunked, false);
  assert.equal(h.hopByHop, undefined);
  assert.equal(h.captured, undefined);
});

test('captures only the requested fields, every value, case-insensitively', () => {
  const capture = new FieldNameSet(['x-telepresence-id']);
  const h = head('GET / HTTP/1.1\r\nHost: h\r\nX-Telepresence-ID: alice\r\nx-other: 1\r\nx-telepresence-id:  bob \r\n\r\n', capture);
  assert.deepEqual(h.captured?.get('x-telepresence-id'), ['alice', 'bob']);
  assert.equal(h.captured?.size, 1);
});

test('connection semantics: 1.0 closes by default, keep-alive and close options, upgrade', () => {
  assert.equal(head('GET / HTTP/1.0\r\n\r\n').keepAlive, false);
  assert.equal(head('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').keepAlive, true);
  assert.equal(head('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n').keepAlive, false);
  const up = head('GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.equal(up.upgrade, true);
  assert.equal(head('GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n').upgrade, false);
});

test('records hop-by-hop lines including fields named by Connection (RFC 9110 §7.6.1)', () => {
  const text = 'GET / HTTP/1.1\r\nX-Secret: 1\r\nHost: h\r\nConnection: x-secret, keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\nAccept: a\r\n\r\n';
  const h = head(text);
  const lines = [];
  for (let r = 0; r < h.hopByHop!.length; r += 3) lines.push(text.slice(h.hopByHop![r], h.hopByHop![r + 1]));
  assert.deepEqual(lines, ['X-Secret: 1\r\n', 'Connection: x-secret, keep-alive\r\n', 'Keep-Alive: 5\r\n', 'TE: trailers\r\n', 'Proxy-Connection: x\r\n']);
});

test('request paths for routing drop the query', () => {
  assert.equal(targetPath('/a/b?c=d'), '/a/b');
  assert.equal(targetPath('/a'), '/a');
  assert.equal(targetPath('http://h:1/p/q?x'), '/p/q');
  assert.equal(targetPath('http://h'), '/');
  assert.equal(targetPath('*'), '*');
});

test('rejects malformed and smuggling-prone heads with 400', () => {
  const cases: Array<[string, RegExp]> = [
    ['GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', /both Content-Length and Transfer-Encoding/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /repeated Content-Length/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n', /repeated Content-Length/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n', /invalid Content-Length/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n', /invalid Content-Length/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n', /invalid Content-Length/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n', /empty Content-Length/],
    ['POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n', /too large/],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', /final transfer coding/],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', /not the final/],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', /not the final/],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n', /no parameters/],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "chunked"\r\n\r\n', /invalid list element/],
    ['POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n', /final transfer coding/],
    ['POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', /HTTP\/1\.0/],
    ['GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n folded\r\n\r\n', /obs-fold/],
    ['GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n', /whitespace between header name and colon/],
    ['GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\t: chunked\r\n\r\n', /whitespace between header name and colon/],
    ['GET / HTTP/1.1\nHost: h\r\n\r\n', /bare LF/],
    ['GET / HTTP/1.1\r\nHost: h\n\r\n', /bare LF/],
    ['GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n', /bare CR|invalid character/],
    ['GET / HTTP/1.1\r\nHost: h\r\nX: a\u0000b\r\n\r\n', /invalid character in header value/],
    ['GET / HTTP/1.1\r\nHost: h\r\nX: a\u007fb\r\n\r\n', /invalid character in header value/],
    ['GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n', /invalid character in header name/],
    ['GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n', /empty header name/],
    ['GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n', /invalid character in header name|no colon/],
    ['G@T / HTTP/1.1\r\nHost: h\r\n\r\n', /invalid (method|request line)/],
    ['GET  / HTTP/1.1\r\nHost: h\r\n\r\n', /invalid request-target/],
    ['GET /a b HTTP/1.1\r\nHost: h\r\n\r\n', /version/],
    ['GET /\u00e9 HTTP/1.1\r\nHost: h\r\n\r\n', /invalid request line/],
    ['GET / HTTP/2.0\r\nHost: h\r\n\r\n', /version/],
    ['GET / HTTP/1.2\r\nHost: h\r\n\r\n', /version/],
    ['GET / http/1.1\r\nHost: h\r\n\r\n', /version/],
    ['GET / HTTP/1.1 \r\nHost: h\r\n\r\n', /version/],
    ['GET /\r\nHost: h\r\n\r\n', /version/],
    ['GET / HTTP/1.1\r\n\r\n', /missing Host/],
    ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', /repeated Host/],
    ['GET / HTTP/1.1\r\nHost: h\r\nConnection: content-length\r\nContent-Length: 0\r\n\r\n', /must not list content-length/],
  ];
  for (const [text, pattern] of cases) rejects(text, pattern);
});

test('a bare LF is refused as soon as it arrives, before any terminator', () => {
  const buf = Buffer.from('GET / HTTP/1.1\nHo', 'latin1');
  assert.throws(() => findHeadEnd(buf, 0, 0, buf.length, CODE), /bare LF/);
});

test('the head search resumes where it stopped and finds a terminator split across reads', () => {
  const text = Buffer.from('GET / HTTP/1.1\r\nHost: h\r\n\r\n', 'latin1');
  for (const [a, b] of splits(text)) {
    const whole = Buffer.concat([a!, b!]);
    const first = findHeadEnd(whole, 0, 0, a!.length, CODE);
    if (first !== -1) {
      assert.equal(first, text.length);
      continue;
    }
    assert.equal(findHeadEnd(whole, 0, Math.max(0, a!.length - 3), whole.length, CODE), text.length);
  }
});

test('pipelined requests with every kind of body survive a split at every byte', () => {
  const input = Buffer.from(
    'GET /one HTTP/1.1\r\nHost: h\r\n\r\n' +
      'POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello' +
      'POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' +
      '3;name="v\\"al;ue";flag;other=tok\r\nabc\r\n' +
      'A\r\n0123456789\r\n' +
      '0\r\nX-Checksum: 42\r\nX-More: yes\r\n\r\n' +
      'DELETE /four HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'latin1',
  );
  const expected = [
    { method: 'GET', target: '/one', body: '', trailers: [] },
    { method: 'POST', target: '/two', body: 'hello', trailers: [] },
    {
      method: 'POST',
      target: '/three',
      body: 'abc0123456789',
      trailers: [
        ['x-checksum', '42'],
        ['x-more', 'yes'],
      ],
    },
    { method: 'DELETE', target: '/four', body: '', trailers: [] },
  ];
  assert.deepEqual(parseStream([input]), expected);
  for (const pieces of splits(input)) assert.deepEqual(parseStream(pieces), expected);
  assert.deepEqual(parseStream(bytewise(input)), expected);
});

// Found by the differential fuzzer (packages/core/fuzz, issue 14): llhttp refused these and detour did not.
test('request-targets must have one of the four forms of RFC 9112 §3.2 (fuzzer findings)', () => {
  const refused: Array<[string, RegExp]> = [
    ['GET 0 HTTP/1.1\r\nHost:\r\n\r\n', /invalid request-target/],
    ['GET h3 HTTP/1.1\r\nHost:\r\n\r\n', /invalid request-target/],
    ['OPTIONS h HTTP/1.1\r\nHost:\r\nt:\r\n\r\n', /invalid request-target/],
    ['GET ?x HTTP/1.1\r\nHost: h\r\n\r\n', /invalid request-target/],
    ['GET urn:x HTTP/1.1\r\nHost: h\r\n\r\n', /invalid request-target/],
    ['GET http:/x HTTP/1.1\r\nHost: h\r\n\r\n', /invalid request-target/],
    ['GET a+b://x HTTP/1.1\r\nHost: h\r\n\r\n', /invalid request-target/],
    ['GET *x HTTP/1.1\r\nHost: h\r\n\r\n', /invalid request-target/],
    ['OPTIONS *- HTTP/1.1\r\nHOST:\r\n\r\n', /invalid request-target/],
    ['GET http://h#x HTTP/1.1\r\nHost: h\r\n\r\n', /invalid authority/],
    ['GET http://h"/ HTTP/1.1\r\nHost: h\r\n\r\n', /invalid authority/],
    ['GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n', /invalid authority/],
    ['POST p:// HTTP/1.1\r\nHost:\r\n\r\n', /empty authority/],
    ['CONNECT / HTTP/1.0\r\na:\r\n\r\n', /for CONNECT/],
  ];
  for (const [text, pattern] of refused) rejects(text, pattern);
  for (const target of ['/', '//x', '*', 'http://h?x', 'HTTP://x', 'https://[::1]:8443/p?q#f', 'http://h:80/a"b']) {
    assert.equal(head(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`).target, target);
  }
  assert.equal(head('CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n').target, 'h:443');
});

test('nothing but SP may follow chunked in Transfer-Encoding (fuzzer findings)', () => {
  for (const value of ['chunked,', 'chunked, ', 'chunked\t', 'chunked \t', 'chunked,,']) {
    rejects(`OPTIONS * HTTP/1.1\r\nHost:\r\nTransfer-Encoding:${value}\r\n\r\n`, /not the final transfer coding/);
  }
  for (const value of ['chunked ', ',chunked', 'gzip,,chunked', 'gzip,\tchunked', '\tchunked']) {
    assert.equal(head(`POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:${value}\r\n\r\n`).chunked, true, JSON.stringify(value));
  }
});

test('nothing but SP may follow a Content-Length value (fuzzer finding)', () => {
  rejects('HEAD h://y HTTP/1.0\r\nContent-Length:3\t\r\n\r\n', /invalid Content-Length/);
  rejects('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3 \t\r\n\r\nabc', /invalid Content-Length/);
  assert.equal(head('POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\t3  \r\n\r\n').contentLength, 3);
});
