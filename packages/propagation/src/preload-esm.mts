/**
 * Zero-code entry for ESM apps: `node --import @detour/propagation/register.mjs app.mjs`.
 * Registers import-in-the-middle's loader hook (the path
 * @opentelemetry/instrumentation documents for ESM) so ESM imports of the
 * instrumented modules are patched, then loads the CommonJS preload.
 */
import { createRequire, register as registerLoaderHooks } from 'node:module';
import { pathToFileURL } from 'node:url';

interface HookChannel {
  registerOptions: { data?: unknown; transferList?: unknown[] };
  waitForAllMessagesAcknowledged(): Promise<void>;
}

const require = createRequire(import.meta.url);
let channel: HookChannel | undefined;
try {
  // Use the import-in-the-middle copy that @opentelemetry/instrumentation
  // uses: its Hook() calls report to the channel created by that same copy.
  const fromInstrumentation = createRequire(require.resolve('@opentelemetry/instrumentation'));
  const iitm = fromInstrumentation('import-in-the-middle') as { createAddHookMessageChannel(): HookChannel };
  channel = iitm.createAddHookMessageChannel();
  // With the channel only modules an instrumentation asked for (http, https,
  // @grpc/grpc-js) are wrapped, not the app's whole module graph.
  registerLoaderHooks(pathToFileURL(fromInstrumentation.resolve('import-in-the-middle/hook.mjs')), channel.registerOptions);
} catch (err) {
  process.emitWarning(`detour propagation: ESM loader hook not registered (${err instanceof Error ? err.message : String(err)}); only CommonJS and node: built-ins are covered`, { code: 'DETOUR_PROPAGATION' });
  channel = undefined;
}

require('./preload.js');

if (channel !== undefined) await channel.waitForAllMessagesAcknowledged();
