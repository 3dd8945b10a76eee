// The one duration parser of the CLI's flags (token --expires, audit --since, --signed-key-ttl/-rotation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetourError } from '@detour/core';
import { parseDuration } from '../src/duration.js';

test('parseDuration: a whole number and s, m, h or d', () => {
  assert.equal(parseDuration('--expires', '90m'), 90 * 60_000);
  assert.equal(parseDuration('--since', '12h'), 12 * 3_600_000);
  assert.equal(parseDuration('--expires', '30d'), 30 * 86_400_000);
  assert.equal(parseDuration('--signed-key-ttl', '10s', { minMs: 10_000, maxMs: 365 * 86_400_000 }), 10_000);
});

test('parseDuration: out of bounds or malformed is a usage error naming the flag and the range', () => {
  const refused = (run: () => number, message: RegExp) =>
    assert.throws(run, (err: unknown) => err instanceof DetourError && err.code === 'DETOUR_ERR_CLI_USAGE' && message.test(err.message));
  refused(() => parseDuration('--expires', '30'), /^bad --expires "30": use a whole number and s, m, h or d \(e\.g\. 90m, 12h, 30d\), at least 1m$/);
  refused(() => parseDuration('--since', '0m'), /bad --since "0m".*at least 1m/);
  refused(() => parseDuration('--since', '30s'), /bad --since "30s".*at least 1m/);
  refused(() => parseDuration('--expires', '1.5h'), /bad --expires "1\.5h"/);
  refused(() => parseDuration('--signed-key-ttl', '5s', { minMs: 10_000, maxMs: 365 * 86_400_000 }), /bad --signed-key-ttl "5s".*from 10s to 365d$/);
  refused(() => parseDuration('--signed-key-rotation', '25d', { minMs: 1_000, maxMs: 24 * 86_400_000 }), /from 1s to 24d$/);
});
