import { DetourError } from '@detour/core';

const DURATION = /^([0-9]{1,6})(s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m` → 1,800,000; undefined unless a whole number and s, m, h or d (the one duration syntax of the CLI). */
export function durationMs(value: string): number | undefined {
  const match = DURATION.exec(value);
  return match === null ? undefined : Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** The range a flag accepts; the default suits human-scale flags (`--expires 30d`, `--since 1h`). */
export interface DurationBounds {
  minMs: number;
  maxMs: number;
}

const DEFAULT_BOUNDS: DurationBounds = { minMs: 60_000, maxMs: 999_999 * 86_400_000 };

/** `90000` → `90s`, `86400000` → `1d`: the largest unit that divides it, for error lines. */
function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    if (ms % UNIT_MS[unit]! === 0) return `${ms / UNIT_MS[unit]!}${unit}`;
  }
  return `${Math.round(ms / 1000)}s`;
}

/**
 * Parses a duration flag (`--expires 30d`, `--since 90m`, `--signed-key-ttl 12h`) into ms: a whole number
 * and s, m, h or d, within `bounds`. A bad one is a usage error naming the flag and what it accepts.
 */
export function parseDuration(flag: string, value: string, bounds: DurationBounds = DEFAULT_BOUNDS): number {
  const ms = durationMs(value) ?? Number.NaN;
  if (!(ms >= bounds.minMs && ms <= bounds.maxMs)) {
    const range = bounds === DEFAULT_BOUNDS ? `at least ${formatDuration(bounds.minMs)}` : `from ${formatDuration(bounds.minMs)} to ${formatDuration(bounds.maxMs)}`;
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad ${flag} ${JSON.stringify(value)}: use a whole number and s, m, h or d (e.g. 90m, 12h, 30d), ${range}`);
  }
  return ms;
}
