import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DetourHome } from '@detour/daemon/client';
import type { Io } from '../io.js';
import { printLine } from '../io.js';

/** `detour leave NAME`: ends one of your intercepts; with `--owner WHO`, an admin ends someone else's. */
export async function leaveCommand(name: string, owner: string | undefined, io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  try {
    await client.call('DELETE', owner === undefined ? DAEMON_PATHS.intercept(name) : DAEMON_PATHS.ownedIntercept(owner, name));
  } finally {
    await client.close();
  }
  printLine(io, owner === undefined ? `Left intercept ${name}` : `Ended ${owner}'s intercept ${name}`);
  return 0;
}
