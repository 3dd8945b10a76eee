import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REDACTED, SCRUB_MIN_CHARS, redactReport, scrubText } from '../src/report-redaction.js';

test('secret keys are redacted wherever they appear, whatever their case', () => {
  const { value } = redactReport({ token: 't0k3n-abcdef', nested: { Authorization: 'Bearer abc', list: [{ key: 'k', cookie: 'c' }] }, kept: 'yes' });
  assert.deepEqual(value, { token: REDACTED, nested: { Authorization: REDACTED, list: [{ key: REDACTED, cookie: REDACTED }] }, kept: 'yes' });
});

test('header values go, header names, path matchers and the rest stay', () => {
  const status = {
    header: { name: 'x-telepresence-id', value: 'alice-1a2b3c' },
    session: { id: 's1', clientId: 'client-0001', headerValue: 'alice-1a2b3c' },
    intercepts: [{ spec: { headers: [{ name: 'x-env', op: 'regex', value: 'canary-.*' }], paths: [{ op: 'prefix', value: '/api' }] } }],
    request: { headers: { 'x-b3': 'trace-123456', accept: '*/*' } },
  };
  const { value, secrets } = redactReport(status);
  assert.deepEqual(value, {
    header: { name: 'x-telepresence-id', value: REDACTED },
    session: { id: 's1', clientId: REDACTED, headerValue: REDACTED },
    intercepts: [{ spec: { headers: [{ name: 'x-env', op: 'regex', value: REDACTED }], paths: [{ op: 'prefix', value: '/api' }] } }],
    request: { headers: { 'x-b3': REDACTED, accept: REDACTED } },
  });
  // Short values (`*/*`) are not collected for scrubbing text: they would erase unrelated words.
  assert.deepEqual([...secrets].sort(), ['alice-1a2b3c', 'canary-.*', 'client-0001', 'trace-123456']);
  assert.ok([...secrets].every((s) => s.length >= SCRUB_MIN_CHARS));
});

test('the input is not changed, and absent values stay absent', () => {
  const input = { header: { name: 'x', value: 'alice-1a2b3c' }, token: undefined, key: null };
  const { value } = redactReport(input);
  assert.equal(input.header.value, 'alice-1a2b3c');
  assert.deepEqual(value, { header: { name: 'x', value: REDACTED }, token: undefined, key: null });
});

test('scrubText cuts secrets out of text, the longer first', () => {
  assert.equal(scrubText('error: alice-1a2b3c and alice-1a2b3c-long taken', ['alice-1a2b3c', 'alice-1a2b3c-long']), `error: ${REDACTED} and ${REDACTED} taken`);
  assert.equal(scrubText('nothing here', []), 'nothing here');
});
