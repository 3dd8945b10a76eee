import { DetourError } from '@detour/core';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DaemonStatus, DetourHome } from '@detour/daemon/client';
import type { Io } from '../io.js';
import { outboundEnvironment } from '../outbound-env.js';
import { runUserCommand } from '../run-command.js';
import type { CommandOutcome } from '../run-command.js';

/** `detour run -- COMMAND`: the command's calls to environment names go through the daemon's proxy. */
export async function runCommand(command: string[], io: Io, home: DetourHome): Promise<CommandOutcome> {
  if (command.length === 0) throw new DetourError('DETOUR_ERR_CLI_USAGE', 'give the command to run after --, e.g. `detour run -- node app.mjs`');
  const client = new DaemonClient(home);
  let status: DaemonStatus;
  try {
    status = await client.call<DaemonStatus>('GET', DAEMON_PATHS.status);
  } finally {
    await client.close();
  }
  return runUserCommand(command, outboundEnvironment(status, io.env));
}
