import type { AuditEntry, AuditList } from '@detour/protocol';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DetourHome } from '@detour/daemon/client';
import { parseDuration } from '../duration.js';
import type { Io, OutputFormat } from '../io.js';
import { formatTable, printJson, printLine } from '../io.js';

/** `detour audit [--since 1h]`: the manager's audit log (admins), oldest first. */
export async function auditCommand(options: { since?: string; output: OutputFormat }, io: Io, home: DetourHome, now: number): Promise<number> {
  const sinceMs = options.since === undefined ? 0 : now - parseDuration('--since', options.since);
  const client = new DaemonClient(home);
  let list: AuditList;
  try {
    list = await client.call<AuditList>('GET', `${DAEMON_PATHS.audit}?since=${sinceMs}`);
  } finally {
    await client.close();
  }
  if (options.output === 'json') {
    printJson(io, list);
    return 0;
  }
  if (list.entries.length === 0) {
    printLine(io, 'No audit entries in that time.');
    return 0;
  }
  printLine(io, formatTable(['TIME', 'WHO', 'ACTION', 'OUTCOME', 'FROM', 'DETAILS'], list.entries.map((entry) => [entry.time, entry.who, entry.action, entry.outcome, entry.from, describeDetails(entry)])));
  return 0;
}

function describeDetails(entry: AuditEntry): string {
  return Object.entries(entry.details ?? {})
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}
