import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY_KIND, BodyFramer, isDetourError } from '../src/index.js';
import { bytewise, splits } from './http1-harness.js';

function chunked(pieces: readonly Buffer[]): { body: string; done: boolean; rest: string; trailers: Array<[string, string]> } {
  let body = '';
  const framer = new BodyFramer(BODY_KIND.CHUNKED, 0, {
    code: 'DETOUR_ERR_AGENT_BAD_REQUEST',
    onData: (buf, s, e) => {
      body += buf.toString('latin1', s, e);
    },
  });
  let rest = '';
  for (const piece of pieces) {
    const at = framer.consume(piece, 0, piece.length);
    rest += piece.toString('latin1', at);
  }
  return { body, done: framer.done, rest, trailers: framer.done ? framer.trailers() : [] };
}

function rejects(text: string, pattern: RegExp) {
  const input = Buffer.from(text, 'latin1');
  for (const pieces of [[input], bytewise(input)]) {
    assert.throws(
      () => chunked(pieces),
      (err: unknown) => isDetourError(err) && err.code === 'DETOUR_ERR_AGENT_BAD_REQUEST' && pattern.test(err.message),
      JSON.stringify(text),
    );
  }
}

test('content-length bodies stop exactly at their length and leave the rest', () => {
  const framer = new BodyFramer(BODY_KIND.LENGTH, 5, { code: 'DETOUR_ERR_AGENT_BAD_REQUEST' });
  const buf = Buffer.from('helloGET');
  assert.equal(framer.consume(buf, 0, 3), 3);
  assert.equal(framer.done, false);
  assert.equal(framer.consume(buf, 3, buf.length), 5);
  assert.equal(framer.done, true);
  assert.equal(framer.consume(buf, 5, buf.length), 5);
});

test('no-body and close-delimited framing', () => {
  assert.equal(new BodyFramer(BODY_KIND.NONE, 0, { code: 'DETOUR_ERR_AGENT_BAD_REQUEST' }).done, true);
  assert.equal(new BodyFramer(BODY_KIND.LENGTH, 0, { code: 'DETOUR_ERR_AGENT_BAD_REQUEST' }).done, true);
  const close = new BodyFramer(BODY_KIND.CLOSE, 0, { code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE' });
  assert.equal(close.consume(Buffer.from('abc'), 0, 3), 3);
  assert.equal(close.done, false);
  close.end();
  assert.equal(close.done, true);
  const truncated = new BodyFramer(BODY_KIND.LENGTH, 10, { code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE' });
  truncated.consume(Buffer.from('abc'), 0, 3);
  assert.throws(() => truncated.end(), /closed before the body was complete/);
});

test('chunked: sizes, extensions, trailers and leftovers at every split', () => {
  const input = Buffer.from('1a;a=b;c="d;\\"e"\r\nabcdefghijklmnopqrstuvwxyz\r\n00000003\r\n123\r\n0;last\r\nTrailer-A: x\r\n\r\nNEXT', 'latin1');
  const expected = { body: 'abcdefghijklmnopqrstuvwxyz123', done: true, rest: 'NEXT', trailers: [['trailer-a', 'x']] as Array<[string, string]> };
  assert.deepEqual(chunked([input]), expected);
  for (const pieces of splits(input)) assert.deepEqual(chunked(pieces), expected);
  assert.deepEqual(chunked(bytewise(input)), expected);
});

test('chunked: rejects bad sizes, overflow, bad extensions and bad framing', () => {
  const cases: Array<[string, RegExp]> = [
    ['\r\n', /invalid chunk size/],
    ['g\r\n', /invalid chunk size/],
    ['-1\r\n', /invalid chunk size/],
    ['0x5\r\n', /invalid chunk size/],
    [' 5\r\n', /invalid chunk size/],
    ['5 x\r\n', /invalid chunk size/],
    ['fffffffffffffffff\r\n', /too large/],
    ['20000000000000\r\n', /too large/],
    ['5;\r\n', /invalid chunk extension name/],
    ['5;a=\r\n', /invalid chunk extension value/],
    ['5;a="x\r\n', /invalid chunk extension value/],
    ['5;a=b c\r\n', /invalid chunk extension/],
    ['5;a\u0000\r\n', /invalid chunk extension/],
    [`5;a=${'b'.repeat(5000)}\r\n`, /chunk size line too long/],
    ['5\rhello\r\n', /bare CR/],
    ['5\nhello\r\n', /invalid chunk size/],
    ['5\r\nhelloX\r\n', /longer than its size/],
    ['5\r\nhello\rX', /bare CR/],
    ['5\r\nhello\n0\r\n\r\n', /longer than its size/],
    ['0\r\nX: 1\n\r\n', /bare LF in trailer/],
    ['0\r\n\n', /bare LF in trailer/],
    ['0\r\n\rX', /bare CR ending/],
  ];
  for (const [text, pattern] of cases) rejects(text, pattern);
});

test('chunked: trailers are validated like header fields, as they arrive, and bounded', () => {
  const framer = () => new BodyFramer(BODY_KIND.CHUNKED, 0, { code: 'DETOUR_ERR_AGENT_BAD_REQUEST', maxTrailerBytes: 64 });
  const big = framer();
  const huge = Buffer.from(`0\r\nX: ${'a'.repeat(100)}\r\n\r\n`, 'latin1');
  assert.throws(() => big.consume(huge, 0, huge.length), /trailer section too large/);
  const cases: Array<[string, RegExp]> = [
    ['0\r\nX: 1\r\n folded\r\n\r\n', /obs-fold/],
    ['0\r\nX : 1\r\n\r\n', /whitespace between trailer name and colon/],
    ['0\r\nX(: 1\r\n\r\n', /invalid trailer field name/],
    ['0\r\n: 1\r\n\r\n', /invalid trailer field name/],
    ['0\r\nX\r\n\r\n', /invalid trailer field name/],
    ['0\r\nX: a\rb\r\n\r\n', /bare CR in trailer section/],
    ['0\r\nX: a\u0000\r\n\r\n', /invalid character in trailer value/],
    ['0\r\nX: a\u007f\r\n\r\n', /invalid character in trailer value/],
    ['0\r\nContent-Length: 5\r\n\r\n', /content-length in trailer section/],
    ['0\r\ntransfer-encoding: chunked\r\n\r\n', /transfer-encoding in trailer section/],
  ];
  for (const [text, pattern] of cases) rejects(text, pattern);
});

test('chunked: trailer fields come back whole when the section arrives in pieces', () => {
  const input = Buffer.from('0\r\nX-A: 1\r\nHost: h\r\nX-Empty:\r\n\r\n', 'latin1');
  const expected = [
    ['x-a', '1'],
    ['host', 'h'],
    ['x-empty', ''],
  ];
  for (const pieces of [[input], ...splits(input), bytewise(input)]) assert.deepEqual(chunked(pieces).trailers, expected);
  assert.deepEqual(chunked([Buffer.from('0\r\n\r', 'latin1'), Buffer.from('\n', 'latin1')]).trailers, []);
});

// Found by the differential fuzzer (packages/core/fuzz, issue 14): llhttp refused these and detour did not.
test('chunked: no whitespace anywhere in a chunk-size line (fuzzer findings)', () => {
  for (const line of ['1 ', '1\t', '0 ', '1 ;a', '1; a', '1;a ', '1;a =b', '1;a= b', '1;a=b ', '1;a=b ;c', '1;a="b" ']) {
    rejects(`${line}\r\nx\r\n0\r\n\r\n`, /invalid chunk (size|extension)/);
  }
  rejects('2\r\nnc\r\n1; ', /invalid chunk extension name/);
  // Whitespace inside a quoted value is data, not BWS.
  assert.equal(chunked([Buffer.from('1;a="\t";b=" x "\r\nx\r\n0\r\n\r\n', 'latin1')]).body, 'x');
});

test('chunked: trailer lines are refused at the byte that breaks them (fuzzer findings)', () => {
  const cases: Array<[string, RegExp]> = [
    ['7\r\n\n3\r\ny\nu\r\n6\r\n;ppxqd\r\n0\r\nX:a\r\r', /bare CR in trailer section/],
    ['1\r\n0\r\n0\r\nT:1\r\n ', /obs-fold/],
    ['3\r\nurt\r\n0\r\n/', /invalid trailer field name/],
    ['0\r\nContent-Length:', /content-length in trailer section/],
  ];
  for (const [text, pattern] of cases) rejects(text, pattern);
});
