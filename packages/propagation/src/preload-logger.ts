import type { Logger } from './logger.js';

/**
 * The preload's logger. Warnings go through `process.emitWarning`, Node's own
 * channel for library warnings (`--no-warnings` silences it); debug lines go
 * to stderr only when DETOUR_PROPAGATION_DEBUG asks for them.
 */
export function preloadLogger(debug: boolean): Logger {
  return {
    debug: (message) => {
      if (debug) process.stderr.write(`${message}\n`);
    },
    warn: (message) => {
      process.emitWarning(message, { code: 'DETOUR_PROPAGATION' });
    },
  };
}
