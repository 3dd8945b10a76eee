import { IdentityNameSchema, ROLES } from '@detour/protocol';
import type { IdentityInfo, Role, TokenCreate, TokenCreated, TokenList } from '@detour/protocol';
import { DetourError } from '@detour/core';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DetourHome } from '@detour/daemon/client';
import { parseDuration } from '../duration.js';
import type { Io, OutputFormat } from '../io.js';
import { formatTable, printJson, printLine } from '../io.js';

export interface TokenCreateOptions {
  name: string;
  role: string;
  services?: string;
  expires?: string;
  output: OutputFormat;
}

/** Checks `token create`'s flags before anything is contacted. */
export function tokenRequest(options: TokenCreateOptions): TokenCreate {
  if (!IdentityNameSchema.safeParse(options.name).success) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad name ${JSON.stringify(options.name)}: use lower-case letters, digits, ".", "_" and "-" (at most 40)`);
  }
  if (!(ROLES as readonly string[]).includes(options.role)) throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --role ${JSON.stringify(options.role)}: use ${ROLES.join(', ')}`);
  const services = options.services?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (services !== undefined && services.length === 0) throw new DetourError('DETOUR_ERR_CLI_USAGE', 'bad --services: give service names separated by commas, e.g. api,quote');
  return {
    name: options.name,
    role: options.role as Role,
    ...(services === undefined ? {} : { services }),
    ...(options.expires === undefined ? {} : { expiresInMs: parseDuration('--expires', options.expires) }),
  };
}

async function withDaemon<T>(home: DetourHome, work: (client: DaemonClient) => Promise<T>): Promise<T> {
  const client = new DaemonClient(home);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/** `detour token create NAME --role R`: prints the new token once; the manager keeps only its hash. */
export async function tokenCreateCommand(options: TokenCreateOptions, io: Io, home: DetourHome): Promise<number> {
  const request = tokenRequest(options);
  const created = await withDaemon(home, (client) => client.call<TokenCreated>('POST', DAEMON_PATHS.tokens, request));
  if (options.output === 'json') {
    printJson(io, created);
    return 0;
  }
  printLine(io, `Created ${created.identity.name} (${created.identity.role}${describeLimits(created.identity)}). Its token, shown only this once:`);
  printLine(io, created.token);
  return 0;
}

export async function tokenListCommand(output: OutputFormat, io: Io, home: DetourHome): Promise<number> {
  const list = await withDaemon(home, (client) => client.call<TokenList>('GET', DAEMON_PATHS.tokens));
  if (output === 'json') {
    printJson(io, list);
    return 0;
  }
  const rows = list.identities.map((identity) => [
    identity.name,
    identity.role,
    identity.policy.services?.join(',') ?? 'all',
    identity.expiresAt === undefined ? 'never' : `${new Date(identity.expiresAt).toISOString()}${identity.expired ? ' (expired)' : ''}`,
  ]);
  printLine(io, formatTable(['NAME', 'ROLE', 'SERVICES', 'EXPIRES'], rows));
  return 0;
}

export async function tokenRevokeCommand(name: string, io: Io, home: DetourHome): Promise<number> {
  await withDaemon(home, (client) => client.call('DELETE', DAEMON_PATHS.token(name)));
  printLine(io, `Revoked ${name}: its token no longer works and its sessions have ended`);
  return 0;
}

function describeLimits(identity: IdentityInfo): string {
  const parts: string[] = [];
  if (identity.policy.services !== undefined) parts.push(`services ${identity.policy.services.join(', ')}`);
  if (identity.expiresAt !== undefined) parts.push(`expires ${new Date(identity.expiresAt).toISOString()}`);
  return parts.length === 0 ? '' : `; ${parts.join('; ')}`;
}
