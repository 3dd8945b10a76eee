import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetourError, errorFromBody, isDetourError, isUserError } from '../src/index.js';

test('an error code the peer sends and this build does not know is a bug, with the peer’s code kept', () => {
  // `toString` is on every object's prototype: a lookup with `in` took it for a known code.
  for (const code of ['DETOUR_ERR_FROM_THE_FUTURE', 'toString']) {
    const err = errorFromBody({ error: { code, message: 'something new', details: { a: 1 } } });
    assert.equal(err.code, 'DETOUR_ERR_INTERNAL_BUG');
    assert.match(err.message, new RegExp(`${code}: something new`));
    assert.deepEqual(err.details, { a: 1, peerCode: code, peerMessage: 'something new' });
    assert.equal(isUserError(err), false);
  }
});

test('a known code crosses intact, and its kind decides whether the user is told or a bug is reported', () => {
  const err = errorFromBody({ error: { code: 'DETOUR_ERR_AUTH_BAD_TOKEN', message: 'the bearer token is wrong' } });
  assert.equal(err.code, 'DETOUR_ERR_AUTH_BAD_TOKEN');
  assert.equal(err.details, undefined);
  assert.equal(isUserError(err), true);
  assert.equal(isUserError(new DetourError('DETOUR_ERR_INTERNAL_BUG', 'x')), false);
  assert.equal(isDetourError(Object.assign(new Error('x'), { code: 'ENOENT' })), false);
  assert.equal(isUserError({ code: 'DETOUR_ERR_CLI_USAGE', message: 'not an Error' }), false);
});

test('a wrapped error keeps its cause', () => {
  const cause = new Error('low level');
  assert.equal(new DetourError('DETOUR_ERR_CONFIG_INVALID', 'high level', { cause }).cause, cause);
});
