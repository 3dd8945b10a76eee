import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoHeaderMatcher, parseHeaderSpec, parsePathMatchers } from '../src/header-spec.js';
import { headerValueFor, sanitizeName } from '@detour/daemon/client';
import { describeMatchers } from '../src/format.js';

test('header specs: exact, regex and auto', () => {
  assert.deepEqual(parseHeaderSpec('X-Dev=Alice=1'), { name: 'x-dev', op: 'equals', value: 'Alice=1' });
  assert.deepEqual(parseHeaderSpec('x-dev~=a.*'), { name: 'x-dev', op: 'regex', value: 'a.*' });
  assert.equal(parseHeaderSpec('auto'), 'auto');
  assert.deepEqual(autoHeaderMatcher('me-1'), { name: 'x-telepresence-id', op: 'equals', value: 'me-1' });
  assert.deepEqual(parseHeaderSpec('x-empty='), { name: 'x-empty', op: 'equals', value: '' });
});

test('bad header specs are usage errors, a bad regex an invalid matcher', () => {
  for (const spec of ['novalue', '=v', 'bad name=v']) {
    assert.throws(() => parseHeaderSpec(spec), { code: 'DETOUR_ERR_CLI_USAGE' }, spec);
  }
  assert.throws(() => parseHeaderSpec('x~=('), { code: 'DETOUR_ERR_INTERCEPT_INVALID_MATCHER' });
});

test('paths must start with / unless they are regexes', () => {
  assert.deepEqual(parsePathMatchers(['/a'], ['/b/'], ['.*\\.json']), [
    { op: 'equals', value: '/a' },
    { op: 'prefix', value: '/b/' },
    { op: 'regex', value: '.*\\.json' },
  ]);
  assert.throws(() => parsePathMatchers(['a'], [], []), /a path starts with "\/"/);
});

test('header values are stable per home and differ between homes', () => {
  assert.equal(headerValueFor('alice', 'home-1'), headerValueFor('alice', 'home-1'));
  assert.notEqual(headerValueFor('alice', 'home-1'), headerValueFor('alice', 'home-2'));
  assert.match(headerValueFor('alice', 'home-1'), /^alice-[0-9a-f]{6}$/);
  assert.equal(sanitizeName('Alice Smith!'), 'alice-smith');
  assert.equal(sanitizeName('___'), 'developer');
});

test('matchers are described the way list and status show them', () => {
  assert.equal(
    describeMatchers({ global: false, headers: [{ name: 'x-a', op: 'equals', value: '1' }, { name: 'x-b', op: 'regex', value: 'b.*' }], paths: [{ op: 'prefix', value: '/api' }, { op: 'equals', value: '/h' }] }),
    'x-a=1 & x-b~=b.* & (path^=/api | path=/h)',
  );
  assert.equal(describeMatchers({ global: true, headers: [], paths: [] }), 'all requests (global)');
});
