import type { Logger } from './logger.js';

/**
 * Runs code that executes inside the host app's request path. An error here is
 * our bug, never the app's, so it is logged and swallowed and `fallback` is
 * returned (the same contract as OpenTelemetry's safeExecuteInTheMiddle).
 */
export function guard<T>(logger: Logger, where: string, fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch (err) {
    try {
      logger.warn(`detour propagation: ${where} failed: ${err instanceof Error ? err.message : String(err)}`);
    } catch {
      // A throwing logger must not turn our bug into the app's crash either.
    }
    return fallback;
  }
}
