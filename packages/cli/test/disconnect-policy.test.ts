import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDetourError } from '@detour/core';
import { DEFAULT_HOLD_MS } from '@detour/protocol';
import { describePolicy, parseDisconnectPolicy } from '../src/disconnect-policy.js';

test('--on-disconnect: every accepted form, as the wire carries it and as list/status show it', () => {
  const cases: Array<[string, ReturnType<typeof parseDisconnectPolicy>, string]> = [
    ['fallback', { onDisconnect: 'fallback' }, 'fallback'],
    ['fail', { onDisconnect: 'fail' }, 'fail'],
    ['hold', { onDisconnect: 'hold', holdMs: DEFAULT_HOLD_MS }, 'hold 10s'],
    ['hold=5s', { onDisconnect: 'hold', holdMs: 5000 }, 'hold 5s'],
    ['hold=1500ms', { onDisconnect: 'hold', holdMs: 1500 }, 'hold 1500ms'],
    ['hold=2000ms', { onDisconnect: 'hold', holdMs: 2000 }, 'hold 2s'],
    ['hold=2m', { onDisconnect: 'hold', holdMs: 120_000 }, 'hold 2m'],
    ['hold=100ms', { onDisconnect: 'hold', holdMs: 100 }, 'hold 100ms'],
    ['hold=10m', { onDisconnect: 'hold', holdMs: 600_000 }, 'hold 10m'],
  ];
  for (const [flag, policy, shown] of cases) {
    assert.deepEqual(parseDisconnectPolicy(flag), policy, flag);
    assert.equal(describePolicy(policy), shown, flag);
  }
  // A hold without holdMs (a daemon that sent none) is shown with the agents' default.
  assert.equal(describePolicy({ onDisconnect: 'hold' }), 'hold 10s');
});

test('--on-disconnect: a bad value is the user\'s mistake, with what to write instead', () => {
  for (const flag of ['', 'retry', 'Hold', 'hold=', 'hold=5', 'hold=5h', 'hold=1.5s', 'hold=-1s', 'hold 5s', 'hold=99ms', 'hold=601s', 'hold=9999999999ms']) {
    assert.throws(
      () => parseDisconnectPolicy(flag),
      (err) => isDetourError(err) && err.code === 'DETOUR_ERR_CLI_USAGE' && err.message.startsWith(`bad --on-disconnect ${JSON.stringify(flag)}: `),
      flag,
    );
  }
});
