import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hexDump, textOf, viewBody } from '../src/body.js';
import { toCurl } from '../src/curl.js';
import { matchesFilter } from '../src/filter.js';
import { toHar } from '../src/har.js';
import { MASK, maskFields, maskValue } from '../src/masking.js';
import type { CapturedExchange } from '../src/model.js';

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

function exchange(overrides: Partial<CapturedExchange> = {}): CapturedExchange {
  return {
    id: 1,
    interceptId: 'i1',
    interceptName: 'api',
    service: 'api',
    protocol: 'http/1.1',
    startedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    durationMs: 12.5,
    method: 'POST',
    path: '/orders?limit=2&q=a%20b',
    authority: 'api.staging:8080',
    requestHeaders: [
      ['host', 'api.staging:8080'],
      ['content-type', 'application/json'],
      ['authorization', 'Bearer top-secret'],
      ['cookie', 'session=abc; theme=dark'],
      ['content-length', '13'],
    ],
    requestBody: { base64: b64('{"item":"pen"}'), bytes: 14, truncated: false },
    state: 'complete',
    status: 201,
    responseHeaders: [
      ['content-type', 'application/json'],
      ['set-cookie', 'session=xyz; Path=/; HttpOnly'],
    ],
    responseBody: { base64: b64('{"ok":true}'), bytes: 11, truncated: false },
    ...overrides,
  };
}

test('masking keeps the scheme and cookie names, hides the values, and leaves other fields alone', () => {
  assert.equal(maskValue('Authorization', 'Bearer abc.def'), `Bearer ${MASK}`);
  assert.equal(maskValue('authorization', 'opaque'), MASK);
  assert.equal(maskValue('proxy-authorization', 'Basic dXNlcjpwdw=='), `Basic ${MASK}`);
  assert.equal(maskValue('cookie', 'a=1; b=2'), `a=${MASK}; b=${MASK}`);
  assert.equal(maskValue('set-cookie', 'sid=s3cr3t; Path=/; HttpOnly; SameSite=Lax'), `sid=${MASK}; Path=/; HttpOnly; SameSite=Lax`);
  assert.equal(maskValue('x-api-key-looking', 'visible'), 'visible');
  const masked = maskFields(exchange().requestHeaders);
  assert.ok(!JSON.stringify(masked).includes('top-secret'));
  assert.ok(!JSON.stringify(masked).includes('abc'));
  assert.deepEqual(masked[1], ['content-type', 'application/json']);
});

test('HAR 1.2: entries oldest first, URL, query, bodies, timings; secrets masked unless asked', () => {
  const har = toHar([exchange({ id: 2, path: '/second' }), exchange()], { revealSecrets: false, creatorVersion: '0.1.0' });
  assert.equal(har.log.version, '1.2');
  assert.deepEqual(har.log.creator, { name: 'detour', version: '0.1.0' });
  assert.deepEqual(har.log.entries.map((e) => e.request.url), ['http://api.staging:8080/orders?limit=2&q=a%20b', 'http://api.staging:8080/second']);
  const [entry] = har.log.entries;
  assert.ok(entry !== undefined);
  assert.equal(entry.startedDateTime, '2026-01-02T03:04:05.006Z');
  assert.equal(entry.time, 12.5);
  assert.equal(entry.request.httpVersion, 'HTTP/1.1');
  assert.deepEqual(entry.request.queryString, [{ name: 'limit', value: '2' }, { name: 'q', value: 'a b' }]);
  assert.deepEqual(entry.request.postData, { mimeType: 'application/json', text: '{"item":"pen"}' });
  assert.equal(entry.request.bodySize, 14);
  assert.equal(entry.response.status, 201);
  assert.deepEqual(entry.response.content, { size: 11, mimeType: 'application/json', text: '{"ok":true}' });
  assert.deepEqual(entry.request.cookies.map((c) => c.name), ['session', 'theme']);
  assert.ok(!JSON.stringify(har).includes('top-secret'));
  assert.ok(!JSON.stringify(har).includes('xyz'));
  const revealed = JSON.stringify(toHar([exchange()], { revealSecrets: true, creatorVersion: '0.1.0' }));
  assert.ok(revealed.includes('Bearer top-secret'));
  assert.ok(revealed.includes('session=xyz'));
});

test('HAR: binary bodies are base64, truncation and errors are said in the comment', () => {
  const binary = Buffer.from([0, 1, 2, 255, 254]);
  const [entry] = toHar([exchange({ protocol: 'grpc', responseBody: { base64: b64(binary), bytes: 70_000, truncated: true }, error: 'stream reset (HTTP/2 code 8)' })], { revealSecrets: false, creatorVersion: 'x' }).log.entries;
  assert.ok(entry !== undefined);
  assert.equal(entry.response.httpVersion, 'HTTP/2');
  assert.deepEqual(entry.response.content, { size: 70_000, mimeType: 'application/json', text: b64(binary), encoding: 'base64' });
  assert.match(entry.comment ?? '', /response body truncated; error: stream reset \(HTTP\/2 code 8\)/);
});

test('cURL: method, target, headers and body, quoted so a shell gives curl exactly these bytes', () => {
  const command = toCurl(exchange({ requestHeaders: [['host', 'x'], ['x-quote', "it's"], ['content-length', '3']], requestBody: { base64: b64("a'b"), bytes: 3, truncated: false } }), 'http://127.0.0.1:8080/');
  assert.equal(command, `curl 'http://127.0.0.1:8080/orders?limit=2&q=a%20b' -H 'x-quote: it'\\''s' --data-binary 'a'\\''b'`);
  // The shell really produces those arguments.
  const argv = JSON.parse(execFileSync('bash', ['-c', `printf_args() { node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- "$@"; }; printf_args ${command.slice(5)}`]).toString()) as string[];
  assert.deepEqual(argv, ['http://127.0.0.1:8080/orders?limit=2&q=a%20b', '-H', "x-quote: it's", '--data-binary', "a'b"]);
  const get = toCurl(exchange({ method: 'GET', requestBody: { base64: '', bytes: 0, truncated: false }, requestHeaders: [] }), 'http://127.0.0.1:1');
  assert.equal(get, `curl 'http://127.0.0.1:1/orders?limit=2&q=a%20b'`);
  const grpc = toCurl(exchange({ protocol: 'grpc', method: 'POST', path: '/pkg.Echo/Unary', requestHeaders: [['content-type', 'application/grpc']], requestBody: { base64: b64(Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x27])), bytes: 7, truncated: false } }), 'http://127.0.0.1:1');
  assert.equal(grpc, `curl --http2-prior-knowledge 'http://127.0.0.1:1/pkg.Echo/Unary' -H 'content-type: application/grpc' --data-binary $'\\x00\\x00\\x00\\x00\\x02\\x0a\\''`);
  const delete_ = toCurl(exchange({ method: 'DELETE', requestBody: { base64: '', bytes: 0, truncated: false }, requestHeaders: [] }), 'http://h');
  assert.match(delete_, /^curl -X 'DELETE' /);
});

test('bodies: pretty JSON, text, hex for binary; a cut UTF-8 character at a truncation is not binary', () => {
  assert.deepEqual(viewBody({ base64: b64('{"a":[1,2]}'), bytes: 11, truncated: false }, 'application/json'), { kind: 'json', text: '{\n  "a": [\n    1,\n    2\n  ]\n}' });
  assert.equal(viewBody({ base64: b64('hello'), bytes: 5, truncated: false }, 'text/plain').kind, 'text');
  assert.equal(viewBody({ base64: '', bytes: 0, truncated: false }, undefined).kind, 'empty');
  const binary = viewBody({ base64: b64(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1])), bytes: 6, truncated: false }, 'image/png');
  assert.equal(binary.kind, 'binary');
  assert.equal(hexDump(Buffer.from('ABC\x00')), `00000000  ${'41 42 43 00'.padEnd(47)}  ABC.`);
  const euro = Buffer.from('price: €');
  assert.equal(textOf(euro.subarray(0, euro.length - 1), true), 'price: ');
  assert.equal(textOf(euro.subarray(0, euro.length - 1), false), undefined);
});

test('filter words: status classes, method, service, protocol and free text all must match', () => {
  const e = exchange();
  assert.ok(matchesFilter(e, ''));
  assert.ok(matchesFilter(e, 'status:2xx method:post'));
  assert.ok(matchesFilter(e, 'status:201 orders'));
  assert.ok(!matchesFilter(e, 'status:5xx'));
  assert.ok(matchesFilter(e, 'service:api proto:http'));
  assert.ok(!matchesFilter(e, 'proto:grpc'));
  assert.ok(!matchesFilter(e, 'users'));
  assert.ok(matchesFilter(exchange({ status: undefined, state: 'error' }), 'status:error'));
});
