import { isDetourError, isUserError } from '@detour/core';
import type { Logger } from '@detour/core';
import { runDaemon } from '@detour/daemon';
import type { DetourHome } from '@detour/daemon/client';
import type { DaemonStartMessage } from './connect.js';
import { managerFromFlags } from '../manager-flags.js';
import type { ManagerFlags } from '../manager-flags.js';

export interface DaemonCommandOptions extends ManagerFlags {
  tokenFile: string;
  name: string;
}

/** Runs the daemon in the foreground; `detour connect` starts it this way in the background. */
export async function daemonCommand(options: DaemonCommandOptions, home: DetourHome, logger: Logger, version: string, signal: AbortSignal): Promise<number> {
  const tell = (message: DaemonStartMessage) => {
    if (process.send !== undefined && process.connected) process.send(message);
  };
  try {
    // No terminal here (connect printed the --insecure warning); runDaemon logs it.
    const { endpoint } = await managerFromFlags(options, undefined);
    await runDaemon({ manager: endpoint, tokenFile: options.tokenFile, name: options.name, home, version, logger, onReady: () => tell({ type: 'ready' }) }, signal);
    return 0;
  } catch (err) {
    logger.error({ err }, 'daemon failed');
    if (isUserError(err)) tell({ type: 'failed', code: err.code, message: err.message });
    else tell({ type: 'failed', code: 'DETOUR_ERR_INTERNAL_BUG', message: `${isDetourError(err) ? err.message : String(err)} (a bug: the stack is in ${home.logPath})` });
    return 2;
  }
}
