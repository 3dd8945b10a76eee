import { readFile } from 'node:fs/promises';
import { DetourError } from '@detour/core';
import { managerEndpoint } from '@detour/transport';
import type { ManagerEndpoint } from '@detour/transport';
import type { Io } from './io.js';
import { printError } from './io.js';

/** The flags of every command that dials the manager itself (agent, connect, the daemon). */
export interface ManagerFlags {
  manager: string;
  managerCa?: string;
  clientCert?: string;
  clientKey?: string;
  insecure?: boolean;
}

/** Reads a PEM file named by a flag; a missing or unreadable file is the user's mistake. */
export async function readPemFlag(flag: string, file: string | undefined): Promise<Buffer | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (err) {
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/**
 * The manager endpoint the flags describe (transport's `managerEndpoint`: the one
 * place that builds TLS options and refuses a cleartext token). With `--insecure`
 * towards a host off this machine it prints the one-line warning on stderr.
 */
export async function managerFromFlags(flags: ManagerFlags, io: Io | undefined): Promise<{ endpoint: ManagerEndpoint; pem: { ca?: Buffer; cert?: Buffer; key?: Buffer } }> {
  const [ca, cert, key] = await Promise.all([
    readPemFlag('--manager-ca', flags.managerCa),
    readPemFlag('--client-cert', flags.clientCert),
    readPemFlag('--client-key', flags.clientKey),
  ]);
  const endpoint = managerEndpoint(flags.manager, { ca, cert, key, insecure: flags.insecure === true });
  if (endpoint.cleartextWarning !== undefined && io !== undefined) printError(io, `detour: warning: ${endpoint.cleartextWarning}`);
  return { endpoint, pem: { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) } };
}
