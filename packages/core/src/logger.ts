import { pino } from 'pino';
import type { Logger, DestinationStream } from 'pino';

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
] as const;

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
}

/** One JSON logger per process, tagged with its component. Headers are never logged by default. */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: { component, pid: process.pid },
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}
