import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY_KIND, FIELD_KIND, findHeadEnd, listFields, omitLines, parseResponseHead, responseBodyKind, serializeHead } from '../src/index.js';

function response(text: string) {
  const buf = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buf, 0, 0, buf.length, 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE');
  return { buf, head: parseResponseHead(buf, 0, end) };
}

test('response framing follows RFC 9112 §6.3', () => {
  const cl = response('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n').head;
  assert.equal(responseBodyKind(cl, 'GET'), BODY_KIND.LENGTH);
  assert.equal(responseBodyKind(cl, 'HEAD'), BODY_KIND.NONE);
  assert.equal(responseBodyKind(response('HTTP/1.1 204 No Content\r\n\r\n').head, 'GET'), BODY_KIND.NONE);
  assert.equal(responseBodyKind(response('HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n').head, 'GET'), BODY_KIND.NONE);
  assert.equal(responseBodyKind(response('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n').head, 'GET'), BODY_KIND.NONE);
  assert.equal(responseBodyKind(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').head, 'GET'), BODY_KIND.CHUNKED);
  assert.equal(responseBodyKind(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n').head, 'GET'), BODY_KIND.CLOSE);
  assert.equal(responseBodyKind(response('HTTP/1.0 200 OK\r\n\r\n').head, 'GET'), BODY_KIND.CLOSE);
  assert.equal(responseBodyKind(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').head, 'GET'), BODY_KIND.NONE);
});

test('response persistence and an omitted reason phrase', () => {
  assert.equal(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').head.keepAlive, true);
  assert.equal(response('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n').head.keepAlive, false);
  assert.equal(response('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').head.keepAlive, false);
  assert.equal(response('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').head.keepAlive, true);
  assert.equal(response('HTTP/1.1 200\r\n\r\n').head.status, 200);
  assert.equal(response('HTTP/1.1 404 \r\n\r\n').head.status, 404);
});

test('rejects malformed responses with the upstream code', () => {
  for (const text of [
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'HTTP/2 200 OK\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/1.1 099 OK\r\n\r\n',
    'HTTP/1.1 2000 OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\u0001\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX : a\r\n\r\n',
  ]) {
    assert.throws(() => response(text), { code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE' }, JSON.stringify(text));
  }
});

test('omitLines drops hop-by-hop lines cheaply and adds extra lines', () => {
  const { buf, head } = response('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: b\r\n\r\n');
  const all = (1 << FIELD_KIND.CONNECTION) | (1 << FIELD_KIND.KEEP_ALIVE);
  assert.equal(omitLines(buf, 0, head.end, head.hopByHop!, all).toString(), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n');
  assert.equal(
    omitLines(buf, 0, head.end, head.hopByHop!, 1 << FIELD_KIND.KEEP_ALIVE, 'Via: x\r\n').toString(),
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-A: b\r\nVia: x\r\n\r\n',
  );
  assert.deepEqual(listFields(buf, 0, head.end), [
    ['Content-Length', '2'],
    ['Connection', 'keep-alive'],
    ['Keep-Alive', 'timeout=5'],
    ['X-A', 'b'],
  ]);
  assert.equal(serializeHead('HTTP/1.1 204 No Content', [['a', 'b']]).toString(), 'HTTP/1.1 204 No Content\r\na: b\r\n\r\n');
});
