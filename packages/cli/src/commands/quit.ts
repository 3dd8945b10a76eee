import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DaemonStatus, DetourHome } from '@detour/daemon/client';
import type { Io } from '../io.js';
import { printLine } from '../io.js';

export async function quitCommand(io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  try {
    const status = await client.call<DaemonStatus>('GET', DAEMON_PATHS.status);
    await client.call('POST', DAEMON_PATHS.quit);
    printLine(io, `Disconnected from ${status.manager.url}; ${status.intercepts.length} intercept(s) ended, daemon stopped`);
  } finally {
    await client.close();
  }
  return 0;
}
