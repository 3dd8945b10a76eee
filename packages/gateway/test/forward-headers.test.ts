import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { PreviewRoute } from '@detour/protocol';
import { BannerInjector, BANNER_SCAN_BYTES } from '../src/banner-injector.js';
import { requestHeaders, responseHeaders, rewriteLocation, rewriteSetCookie } from '../src/forward-headers.js';

const ROUTE: PreviewRoute = {
  hint: 'abcdef',
  owner: 'alice',
  service: 'web',
  interceptName: 'web',
  entryUrl: 'http://10.0.0.7:8080',
  headers: [{ name: 'x-telepresence-id', value: 'alice-1' }],
  routingHeaders: ['x-env', 'x-telepresence-id'],
  expiresAt: Date.now() + 60_000,
};

test('routing, relay-owned and hop-by-hop fields are dropped; the intercept header is added once', () => {
  const raw = ['Host', 'id.preview.localhost', 'X-Telepresence-Id', 'bob-2', 'x-env', 'bob', 'detour-intercept-id', 'i', 'Connection', 'keep-alive, x-drop', 'x-drop', '1', 'Cookie', 'detour-preview=zz; a=1', 'Accept', '*/*'];
  const out = requestHeaders(raw, '10.0.0.7:8080', { route: ROUTE, visitorHost: 'id.preview.localhost', visitorProto: 'http', clientAddress: '127.0.0.1', identityEncoding: false });
  assert.deepEqual(out, [
    ['host', '10.0.0.7:8080'],
    ['Cookie', 'a=1'],
    ['Accept', '*/*'],
    ['x-telepresence-id', 'alice-1'],
    ['x-forwarded-for', '127.0.0.1'],
    ['x-forwarded-host', 'id.preview.localhost'],
    ['x-forwarded-proto', 'http'],
  ]);
});

test('Location at the entry comes back to the visitor origin; others are left alone', () => {
  assert.equal(rewriteLocation('http://10.0.0.7:8080/a?b#c', 'http://10.0.0.7:8080', 'http://id.preview.localhost:81'), 'http://id.preview.localhost:81/a?b#c');
  assert.equal(rewriteLocation('/relative', 'http://10.0.0.7:8080', 'http://v'), '/relative');
  assert.equal(rewriteLocation('https://accounts.example.test/login', 'http://10.0.0.7:8080', 'http://v'), 'https://accounts.example.test/login');
});

test('Set-Cookie loses its Domain attribute only', () => {
  assert.equal(rewriteSetCookie('s=1; Domain=staging.example.test; Path=/; Secure'), 's=1; Path=/; Secure');
  assert.equal(rewriteSetCookie('domain=x; Path=/'), 'domain=x; Path=/');
  const out = responseHeaders(['Content-Length', '3', 'Set-Cookie', 'a=1; domain=x', 'Set-Cookie', 'b=2', 'Transfer-Encoding', 'chunked'], 'http://e', 'http://v', true);
  assert.deepEqual(out, [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
});

test('the banner goes after <body>, split across chunks; without one, first', async () => {
  const run = async (chunks: string[]) => text(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(new BannerInjector('[B]')));
  assert.equal(await run(['<html><bo', 'dy class="x">hi', '</body></html>']), '<html><body class="x">[B]hi</body></html>');
  assert.equal(await run(['plain']), '[B]plain');
  const big = 'a'.repeat(BANNER_SCAN_BYTES);
  assert.equal(await run([big, '<body>']), `[B]${big}<body>`);
});
