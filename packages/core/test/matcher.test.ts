import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Intercept } from '@detour/protocol';
import { RouteTable, comparePrecedence, matcherKey, validateMatchers } from '../src/index.js';

let sequence = 0;
function intercept(partial: Partial<Intercept> & Pick<Intercept, 'id'>): Intercept {
  sequence += 1;
  return {
    name: partial.id,
    service: 'api',
    headers: [],
    paths: [],
    global: false,
    onDisconnect: 'fallback',
    mechanism: 'http',
    localPort: 8080,
    owner: { sessionId: 's', name: 'alice', headerValue: 'alice-1' },
    createdAt: 1000,
    sequence,
    online: true,
    ...partial,
  };
}

function input(path: string, headers: Record<string, string[]> = {}) {
  return { path, headers: new Map(Object.entries(headers)) };
}

test('exact header match is case-sensitive on the value and picks the right developer', () => {
  const table = new RouteTable([
    intercept({ id: 'alice', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'alice-1' }] }),
    intercept({ id: 'bob', headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'bob-2' }] }),
  ]);
  assert.equal(table.match(input('/', { 'x-telepresence-id': ['alice-1'] }))?.id, 'alice');
  assert.equal(table.match(input('/', { 'x-telepresence-id': ['bob-2'] }))?.id, 'bob');
  assert.equal(table.match(input('/', { 'x-telepresence-id': ['ALICE-1'] })), undefined);
  assert.equal(table.match(input('/')), undefined);
  assert.deepEqual([...table.headerNames], ['x-telepresence-id']);
});

test('a repeated header matches if any of its values matches', () => {
  const table = new RouteTable([intercept({ id: 'a', headers: [{ name: 'x-dev', op: 'equals', value: 'me' }] })]);
  assert.equal(table.match(input('/', { 'x-dev': ['other', 'me'] }))?.id, 'a');
});

test('regex must match the whole value', () => {
  const table = new RouteTable([intercept({ id: 'a', headers: [{ name: 'x-dev', op: 'regex', value: 'alice-[0-9]+' }] })]);
  assert.equal(table.match(input('/', { 'x-dev': ['alice-42'] }))?.id, 'a');
  assert.equal(table.match(input('/', { 'x-dev': ['xalice-42'] })), undefined);
  assert.equal(table.match(input('/', { 'x-dev': ['alice-42x'] })), undefined);
});

test('headers are ANDed, paths ORed among themselves and ANDed with headers', () => {
  const table = new RouteTable([
    intercept({
      id: 'a',
      headers: [
        { name: 'x-a', op: 'equals', value: '1' },
        { name: 'x-b', op: 'regex', value: '2|3' },
      ],
      paths: [
        { op: 'prefix', value: '/api/' },
        { op: 'equals', value: '/health' },
      ],
    }),
  ]);
  const both = { 'x-a': ['1'], 'x-b': ['3'] };
  assert.equal(table.match(input('/api/users', both))?.id, 'a');
  assert.equal(table.match(input('/health', both))?.id, 'a');
  assert.equal(table.match(input('/other', both)), undefined);
  assert.equal(table.match(input('/api/users', { 'x-a': ['1'] })), undefined);
});

test('path-only and global intercepts are scanned', () => {
  const table = new RouteTable([intercept({ id: 'p', paths: [{ op: 'regex', value: '/items/[0-9]+' }] })]);
  assert.equal(table.match(input('/items/12'))?.id, 'p');
  assert.equal(table.match(input('/items/x')), undefined);
  assert.equal(new RouteTable([intercept({ id: 'g', global: true })]).match(input('/anything'))?.id, 'g');
});

test('precedence: more headers, then exact before regex, then paths, then oldest', () => {
  const h = (name: string, op: 'equals' | 'regex', value: string) => ({ name, op, value });
  const twoHeaders = intercept({ id: 'two', headers: [h('x-a', 'equals', '1'), h('x-b', 'regex', '.*')], createdAt: 5 });
  const exact = intercept({ id: 'exact', headers: [h('x-a', 'equals', '1')], createdAt: 4 });
  const regex = intercept({ id: 'regex', headers: [h('x-a', 'regex', '1')], createdAt: 1 });
  const withPath = intercept({ id: 'path', headers: [h('x-c', 'regex', '.*')], paths: [{ op: 'prefix', value: '/' }], createdAt: 3 });
  const older = intercept({ id: 'older', headers: [h('x-c', 'regex', '.+')], createdAt: 1 });
  const newer = intercept({ id: 'newer', headers: [h('x-c', 'regex', '.+')], createdAt: 2 });
  const table = new RouteTable([newer, older, withPath, regex, exact, twoHeaders]);
  assert.equal(table.match(input('/', { 'x-a': ['1'], 'x-b': ['z'] }))?.id, 'two');
  assert.equal(table.match(input('/', { 'x-a': ['1'] }))?.id, 'exact');
  assert.equal(table.match(input('/', { 'x-c': ['v'] }))?.id, 'path');
  assert.equal(new RouteTable([newer, older]).match(input('/', { 'x-c': ['v'] }))?.id, 'older');
  assert.ok(comparePrecedence(older, newer) < 0);
});

test('identical matchers share a key regardless of order; different ones do not', () => {
  const a = { global: false, headers: [{ name: 'x-a', op: 'equals' as const, value: '1' }, { name: 'x-b', op: 'equals' as const, value: '2' }], paths: [] };
  const b = { global: false, headers: [...a.headers].reverse(), paths: [] };
  assert.equal(matcherKey(a), matcherKey(b));
  assert.notEqual(matcherKey(a), matcherKey({ ...a, paths: [{ op: 'prefix' as const, value: '/x' }] }));
});

test('invalid regexes are refused with DETOUR_ERR_INTERCEPT_INVALID_MATCHER', () => {
  assert.throws(() => validateMatchers({ headers: [{ name: 'x', op: 'regex', value: '(unclosed' }], paths: [] }), { code: 'DETOUR_ERR_INTERCEPT_INVALID_MATCHER' });
  // Backreferences would need backtracking; RE2 refuses them.
  assert.throws(() => validateMatchers({ headers: [], paths: [{ op: 'regex', value: '(a)\\1' }] }), { code: 'DETOUR_ERR_INTERCEPT_INVALID_MATCHER' });
});

test('a catastrophic pattern against a hostile value finishes (linear-time engine)', { timeout: 20_000 }, () => {
  // With a backtracking engine (a+)+$ against "aaaa…!" takes 2^n steps and this test would time out.
  const table = new RouteTable([intercept({ id: 'evil', headers: [{ name: 'x-dev', op: 'regex', value: '(a+)+$' }] })]);
  const hostile = `${'a'.repeat(50_000)}!`;
  assert.equal(table.match(input('/', { 'x-dev': [hostile] })), undefined);
});

test('1,000 exact intercepts are found by lookup', () => {
  const many = Array.from({ length: 1000 }, (_, i) => intercept({ id: `dev${i}`, headers: [{ name: 'x-telepresence-id', op: 'equals', value: `dev-${i}` }] }));
  const table = new RouteTable(many);
  assert.equal(table.size, 1000);
  assert.equal(table.match(input('/', { 'x-telepresence-id': ['dev-777'] }))?.id, 'dev777');
  assert.equal(table.match(input('/', { 'x-telepresence-id': ['nobody'] })), undefined);
});
