import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDetourError } from '@detour/core';
import { fallthroughOf, parseBodyLimit, parseFallthroughStatuses } from '../src/fallthrough-flags.js';

test('--fallthrough-status and --fallthrough-body-limit: accepted forms', () => {
  assert.deepEqual(parseFallthroughStatuses('404,501'), [404, 501]);
  assert.deepEqual(parseFallthroughStatuses(' 404 , 404'), [404]);
  assert.equal(parseBodyLimit('65536'), 65536);
  assert.equal(parseBodyLimit('64KiB'), 65536);
  assert.equal(parseBodyLimit('16MiB'), 16 * 1024 * 1024);
  assert.deepEqual(fallthroughOf([404], undefined), { statuses: [404], bodyLimitBytes: 1024 * 1024 });
  assert.equal(fallthroughOf(undefined, undefined), undefined);
});

test('--fallthrough-status and --fallthrough-body-limit: mistakes are usage errors', () => {
  for (const bad of ['', '404,', 'abc', '99', '600', '1xx', Array.from({ length: 17 }, (_, i) => 400 + i).join(',')]) {
    assert.throws(() => parseFallthroughStatuses(bad), (err) => isDetourError(err) && err.code === 'DETOUR_ERR_CLI_USAGE', bad);
  }
  for (const bad of ['17MiB', '1GB', '-1', 'lots']) {
    assert.throws(() => parseBodyLimit(bad), (err) => isDetourError(err) && err.code === 'DETOUR_ERR_CLI_USAGE', bad);
  }
  assert.throws(() => fallthroughOf(undefined, 1024), (err) => isDetourError(err) && err.code === 'DETOUR_ERR_CLI_USAGE');
});
