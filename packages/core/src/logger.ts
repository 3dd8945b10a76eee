import { pino } from 'pino';
import type { Logger, DestinationStream } from 'pino';
import type { LogRing } from './log-ring.js';

export type { Logger } from 'pino';

/**
 * Paths pino censors wherever they appear. Tokens and session keys authenticate a
 * developer; cookies and authorization headers belong to the traffic we carry.
 */
export const REDACTED_PATHS = [
  'token',
  'key',
  'authorization',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["detour-session-key"]',
  '*.token',
  '*.key',
  '*.authorization',
  // Signed routing keys (issue 13): the signed value a developer sends, and the keys agents verify with.
  'signedValue',
  '*.signedValue',
  'routingKeys',
  '*.routingKeys',
  'secret',
  '*.secret',
] as const;

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
  /** Also keeps the most recent lines here (`detour gather-logs`); `destination` gets exactly what it would without. */
  ring?: LogRing;
}

const RING_MIN_LEVEL: pino.Level = 'info';

function isLevel(name: string): name is pino.Level {
  return name in pino.levels.values;
}

/** One JSON logger per process, tagged with its component. Headers are never logged by default. */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: { component, pid: process.pid },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  const { destination, ring } = options;
  // An unknown level name takes the plain path, where pino refuses it as it always did.
  if (ring === undefined || !(isLevel(settings.level) || settings.level === 'silent')) return destination === undefined ? pino(settings) : pino(settings, destination);
  // The ring keeps at least `info` lines when the destination is quieter (a deployment
  // at `warn`): a bug report needs the lifecycle lines, which are few. Each stream of a
  // multistream filters by its own level, so the destination still gets only its own.
  const level = settings.level;
  const ringLevel = isLevel(level) && pino.levels.values[level]! < pino.levels.values[RING_MIN_LEVEL]! ? level : RING_MIN_LEVEL;
  const streams: pino.StreamEntry[] = [{ level: ringLevel, stream: ring }];
  if (isLevel(level)) streams.push({ level, stream: destination ?? pino.destination(1) });
  return pino({ ...settings, level: ringLevel }, pino.multistream(streams));
}
