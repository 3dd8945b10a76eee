export { DetourError, errorFromBody, isDetourError } from './errors.js';
export { createLogger, REDACTED_PATHS } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { Backoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { readTokenFile, readOrCreateTokenFile } from './token-file.js';
export { RouteTable, comparePrecedence, matcherKey, validateMatchers } from './matcher.js';
export type { RouteInput } from './matcher.js';
