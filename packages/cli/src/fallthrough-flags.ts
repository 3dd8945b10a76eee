import { DEFAULT_FALLTHROUGH_BODY_LIMIT_BYTES, MAX_FALLTHROUGH_BODY_LIMIT_BYTES } from '@detour/protocol';
import type { Fallthrough } from '@detour/protocol';
import { DetourError } from '@detour/core';

const STATUS = /^[2-5][0-9]{2}$/;
const SIZE = /^([0-9]{1,9})(B|KiB|MiB)?$/;
const UNIT_BYTES: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 * 1024 };

/**
 * Parses `--fallthrough-status 404,501`: HTTP final statuses (200–599), comma
 * separated, at most 16. 1xx are not answers, so they cannot be listed.
 */
export function parseFallthroughStatuses(value: string): number[] {
  const parts = value.split(',').map((part) => part.trim());
  const bad = parts.find((part) => !STATUS.test(part));
  if (bad !== undefined || parts.length > 16) {
    const why = bad === undefined ? 'at most 16 statuses' : `${JSON.stringify(bad)} is not an HTTP status from 200 to 599`;
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --fallthrough-status ${JSON.stringify(value)}: ${why}; use e.g. --fallthrough-status 404,501`);
  }
  return [...new Set(parts.map(Number))];
}

/** Parses `--fallthrough-body-limit`: bytes, or with a unit (`64KiB`, `4MiB`), up to MAX_FALLTHROUGH_BODY_LIMIT_BYTES. */
export function parseBodyLimit(value: string): number {
  const match = SIZE.exec(value);
  const bytes = match === null ? Number.NaN : Number(match[1]) * UNIT_BYTES[match[2] ?? 'B']!;
  if (!(bytes <= MAX_FALLTHROUGH_BODY_LIMIT_BYTES)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --fallthrough-body-limit ${JSON.stringify(value)}: use bytes, KiB or MiB up to 16MiB (e.g. 1MiB, 65536)`);
  }
  return bytes;
}

/** The intercept's `fallthrough`, or undefined without `--fallthrough-status` (a lone body limit is a mistake). */
export function fallthroughOf(statuses: number[] | undefined, bodyLimitBytes: number | undefined): Fallthrough | undefined {
  if (statuses === undefined) {
    if (bodyLimitBytes !== undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', '--fallthrough-body-limit needs --fallthrough-status (e.g. --fallthrough-status 404,501)');
    return undefined;
  }
  return { statuses, bodyLimitBytes: bodyLimitBytes ?? DEFAULT_FALLTHROUGH_BODY_LIMIT_BYTES };
}
