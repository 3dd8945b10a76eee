import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RELAY_OWNED_HEADERS } from '@detour/protocol';
import { FIELD_KIND, findHeadEnd, omitLines, parseRequestHead, parseResponseHead } from '../src/index.js';

const CODE = 'DETOUR_ERR_AGENT_BAD_REQUEST';

function cutKinds(text: string, parse: 'request' | 'response'): { lines: string[]; buf: Buffer; end: number; cut: number[] | undefined } {
  const buf = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buf, 0, 0, buf.length, CODE);
  const cut = parse === 'request' ? parseRequestHead(buf, 0, end).hopByHop : parseResponseHead(buf, 0, end).hopByHop;
  const lines: string[] = [];
  for (let r = 0; cut !== undefined && r < cut.length; r += 3) {
    if (cut[r + 2] === FIELD_KIND.RELAY_OWNED) lines.push(text.slice(cut[r], cut[r + 1]).trimEnd());
  }
  return { lines, buf, end, cut };
}

test('issue 9: every relay-owned field is marked for cutting, in any case; other detour-* fields are not', () => {
  const text =
    'GET / HTTP/1.1\r\nHost: h\r\nDetour-Intercept-Id: i-evil\r\ndetour-offline: 1\r\nDETOUR-UPSTREAM-PROTOCOL: h2\r\n' +
    'detour-session-key: mine\r\ndetour-other: kept\r\nContent-Length: 0\r\n\r\n';
  const { lines, buf, end, cut } = cutKinds(text, 'request');
  assert.deepEqual(lines, ['Detour-Intercept-Id: i-evil', 'detour-offline: 1', 'DETOUR-UPSTREAM-PROTOCOL: h2']);
  assert.equal(lines.length, RELAY_OWNED_HEADERS.length);
  const forwarded = omitLines(buf, 0, end, cut!, 1 << FIELD_KIND.RELAY_OWNED).toString('latin1');
  assert.equal(forwarded, 'GET / HTTP/1.1\r\nHost: h\r\ndetour-session-key: mine\r\ndetour-other: kept\r\nContent-Length: 0\r\n\r\n');
});

test('issue 9: a response head is classified the same way; a head without such fields stays on the fast path', () => {
  assert.deepEqual(cutKinds('HTTP/1.1 200 OK\r\ndetour-offline: 1\r\nContent-Length: 0\r\n\r\n', 'response').lines, ['detour-offline: 1']);
  // Same lengths as relay-owned names (14, 19, 24 bytes), different bytes: nothing to cut.
  assert.equal(cutKinds('GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nx-telepresence-id-0: a\r\nx-forwarded-for-original: 1\r\n\r\n', 'request').cut, undefined);
});
