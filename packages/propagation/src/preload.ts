/**
 * Zero-code entry: `node --require @detour/propagation/register app.js`.
 * Settings come from DETOUR_* environment variables (env-options.ts).
 */
import { debugFromEnv, optionsFromEnv } from './env-options.js';
import { isPropagationError } from './errors.js';
import { preloadLogger } from './preload-logger.js';
import { register } from './register.js';

const logger = preloadLogger(debugFromEnv(process.env));
const options = optionsFromEnv(process.env);

try {
  const handle = register({ ...options, logger });
  // Load http/https now so require-in-the-middle patches them before an ESM
  // app binds their exports; a CommonJS preload alone never sees an ESM
  // `import 'node:http'` otherwise (research §2.9, verified on Node 20).
  require('node:http');
  require('node:https');
  handle.selfTest.catch((err: unknown) => {
    // Strict mode asked for this: the service must not run without propagation.
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
} catch (err) {
  const message = isPropagationError(err) ? err.message : `unexpected error: ${String(err)}`;
  if (options.selfTest === 'strict') {
    process.stderr.write(`detour propagation: ${message}\n`);
    process.exit(2);
  }
  logger.warn(`detour propagation is off: ${message}`);
}
