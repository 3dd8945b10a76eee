import { randomUUID } from 'node:crypto';

const PROBE_PREFIX = 'detour-self-test-';

/** A fresh value for the start-up self-check. */
export function newProbeValue(): string {
  return `${PROBE_PREFIX}${randomUUID()}`;
}

/** Self-check traffic is left out of the counters so they describe the app alone. */
export function isProbeValue(value: string): boolean {
  return value.startsWith(PROBE_PREFIX);
}
