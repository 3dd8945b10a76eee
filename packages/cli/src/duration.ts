import { DetourError } from '@detour/core';

const DURATION = /^([0-9]{1,6})(m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a coarse duration flag (`--expires 30d`, `--since 1h`, `90m`) into ms; a bad one is a usage error naming the flag. */
export function parseCoarseDuration(flag: string, value: string): number {
  const match = DURATION.exec(value);
  if (match === null || Number(match[1]) === 0) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad ${flag} ${JSON.stringify(value)}: use a whole number with m, h or d, e.g. 90m, 12h, 30d`);
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
