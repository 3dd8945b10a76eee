import { DaemonClient } from '../daemon-client.js';
import { DAEMON_PATHS } from '../daemon-api.js';
import type { DetourHome } from '../home.js';
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
