import { DEFAULT_HOLD_MS, MAX_HOLD_MS, MIN_HOLD_MS } from '@detour/protocol';
import type { InterceptRequest } from '@detour/protocol';
import { DetourError } from '@detour/core';

/** An intercept's `--on-disconnect`, as the wire carries it. */
export type DisconnectPolicy = Pick<InterceptRequest, 'onDisconnect' | 'holdMs'>;

const HOLD = /^hold(?:=([0-9]{1,9})(ms|s|m))?$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000 };

/**
 * Parses `--on-disconnect`: `fallback`, `fail`, `hold` (DEFAULT_HOLD_MS) or
 * `hold=DURATION` with a unit (`5s`, `1500ms`, `2m`). It needs no daemon, so a
 * mistyped flag is reported before anything is contacted. `hold` always goes
 * out with its `holdMs`, so the agents need not know the CLI's default.
 */
export function parseDisconnectPolicy(value: string): DisconnectPolicy {
  if (value === 'fallback' || value === 'fail') return { onDisconnect: value };
  const hold = HOLD.exec(value);
  if (hold === null) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --on-disconnect ${JSON.stringify(value)}: use fallback, fail, hold or hold=DURATION (e.g. hold=5s, hold=1500ms, hold=2m)`);
  }
  if (hold[1] === undefined) return { onDisconnect: 'hold', holdMs: DEFAULT_HOLD_MS };
  const holdMs = Number(hold[1]) * UNIT_MS[hold[2]!]!;
  if (holdMs < MIN_HOLD_MS || holdMs > MAX_HOLD_MS) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --on-disconnect ${JSON.stringify(value)}: a hold lasts from ${formatDuration(MIN_HOLD_MS)} to ${formatDuration(MAX_HOLD_MS)}`);
  }
  return { onDisconnect: 'hold', holdMs };
}

/** A policy as `list`, `status` and `intercept` show it: `fallback`, `fail`, `hold 10s`. */
export function describePolicy(policy: DisconnectPolicy): string {
  return policy.onDisconnect === 'hold' ? `hold ${formatDuration(policy.holdMs ?? DEFAULT_HOLD_MS)}` : policy.onDisconnect;
}

/** `2m`, `5s` or `1500ms`: the largest unit that says it exactly, as the flag takes it. */
function formatDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
