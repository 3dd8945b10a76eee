import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieWithoutPreview, idFromCookie, idFromHost, readPreviewAsk, takeQueryId } from '../src/preview-id.js';

const ID = 'abcdefghijklmnopqrstuvwxyz234567';

test('the host names a preview only as <id>.<domain>, whatever the case and port', () => {
  assert.equal(idFromHost(`${ID}.preview.localhost:8081`, 'preview.localhost'), ID);
  assert.equal(idFromHost(`${ID.toUpperCase()}.Preview.Localhost.`, 'preview.localhost'), ID);
  assert.equal(idFromHost('preview.localhost:8081', 'preview.localhost'), undefined);
  assert.equal(idFromHost(`x.${ID}.preview.localhost`, 'preview.localhost'), undefined);
  assert.equal(idFromHost(`${ID}.preview.localhost.evil.test`, 'preview.localhost'), undefined);
  assert.equal(idFromHost('short.preview.localhost', 'preview.localhost'), undefined);
  assert.equal(idFromHost(undefined, 'preview.localhost'), undefined);
});

test('the preview cookie is read from, and removed from, a Cookie header', () => {
  assert.equal(idFromCookie(`a=1; detour-preview=${ID}; b=2`), ID);
  assert.equal(idFromCookie('a=1; xdetour-preview=nope'), undefined);
  assert.equal(cookieWithoutPreview(`a=1; detour-preview=${ID}; b=2`), 'a=1; b=2');
  assert.equal(cookieWithoutPreview(`detour-preview=${ID}`), undefined);
});

test('?detour-preview= is taken out and every other query byte stays as it was', () => {
  assert.deepEqual(takeQueryId(`/p?a=%2F&detour-preview=${ID}&b=+x&&c`), { id: ID, target: '/p?a=%2F&b=+x&&c' });
  assert.deepEqual(takeQueryId(`/p?detour-preview=${ID}`), { id: ID, target: '/p' });
  assert.equal(takeQueryId('/p?detour-previewx=1'), undefined);
  assert.equal(takeQueryId('/p'), undefined);
});

test('what a request asks for: exit, share link, host before cookie, nothing', () => {
  assert.deepEqual(readPreviewAsk('/_detour/preview/exit', undefined, undefined, 'preview.localhost'), { kind: 'exit' });
  assert.deepEqual(readPreviewAsk(`/_detour/preview/${ID}`, 'gw', undefined, 'preview.localhost'), { kind: 'share', id: ID, location: '/' });
  const other = 'b'.repeat(32);
  assert.deepEqual(readPreviewAsk('/x', `${ID}.preview.localhost`, `detour-preview=${other}`, 'preview.localhost'), { kind: 'preview', id: ID, via: 'host' });
  assert.deepEqual(readPreviewAsk('/x', 'gw:80', `detour-preview=${other}`, 'preview.localhost'), { kind: 'preview', id: other, via: 'cookie' });
  assert.deepEqual(readPreviewAsk('/x', 'gw:80', undefined, 'preview.localhost'), { kind: 'none' });
});
