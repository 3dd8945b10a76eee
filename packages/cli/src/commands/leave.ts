import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DetourHome } from '@detour/daemon/client';
import type { Io } from '../io.js';
import { printLine } from '../io.js';

export async function leaveCommand(name: string, io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  try {
    await client.call('DELETE', DAEMON_PATHS.intercept(name));
  } finally {
    await client.close();
  }
  printLine(io, `Left intercept ${name}`);
  return 0;
}
