import { readOrCreateTokenFile } from '@detour/core';
import { startManager } from '@detour/manager';
import type { Io } from '../io.js';
import type { ServerLogging } from '../server-logging.js';
import { printLine } from '../io.js';

export interface ManagerCommandOptions {
  host: string;
  port: number;
  tokenFile: string;
  leaseMs: number;
  global: boolean;
}

export async function managerCommand(options: ManagerCommandOptions, io: Io, { logger, ring }: ServerLogging, version: string, signal: AbortSignal): Promise<number> {
  const { token, created } = await readOrCreateTokenFile(options.tokenFile);
  if (created) printLine(io, `wrote a new token to ${options.tokenFile}`);
  const manager = await startManager({ host: options.host, port: options.port, token, leaseMs: options.leaseMs, globalAllowed: options.global, logger, logRing: ring, version });
  printLine(io, `manager listening on ${manager.url}`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await manager.close();
  return 0;
}
