import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { arch, platform, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { create as createTar } from 'tar';
import type { RecentLogs, ServiceList } from '@detour/protocol';
import { DetourError, LOG_RING_DEFAULTS, isDetourError } from '@detour/core';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DaemonStatus, DetourHome } from '@detour/daemon/client';
import type { Io } from '../io.js';
import { printLine } from '../io.js';
import { redactReport, scrubText } from '../report-redaction.js';

export interface GatherLogsOptions {
  /** `-o FILE`; default `detour-logs-<UTC time>.tar.gz` in `cwd`. */
  file?: string;
  cwd: string;
  version: string;
  now?: Date;
}

/** The daemon's log is a file that grows for as long as the home is used; its tail is what a report needs. */
const DAEMON_LOG_TAIL_BYTES = LOG_RING_DEFAULTS.maxBytes;

interface Entry {
  path: string;
  text: string;
}

interface Missing {
  part: string;
  reason: string;
}

/** `20250102T030405Z`: sorts by time, and has no `:` (not allowed in Windows file names). */
function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function reasonOf(err: unknown): string {
  return isDetourError(err) ? `${err.message} (${err.code})` : (err as Error).message;
}

/** Asks the daemon; any failure becomes a missing part, since a bug report tool must not fail for the bug it reports. */
async function ask<T>(client: DaemonClient, path: string, part: string, missing: Missing[]): Promise<T | undefined> {
  try {
    return await client.call<T>('GET', path);
  } catch (err) {
    missing.push({ part, reason: reasonOf(err) });
    return undefined;
  }
}

/** The last `maxBytes` of a file, from its first whole line; undefined when there is no file. */
async function readTail(path: string, maxBytes: number): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    await handle.close();
  }
}

/** Creates (or truncates) the output file now, owner-only: a path that cannot be written is the user's mistake, found before any work. */
async function claimOutput(file: string): Promise<void> {
  try {
    const handle = await open(file, 'w', 0o600);
    await handle.close();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `cannot write -o ${file} (${code}); give a file path in a folder you can write to`, { cause: err });
  }
}

/** Agent ids are letters, digits, `.`, `_` and `-`: a file name once a leading dot (`..`) is replaced. */
function agentFile(agentId: string): string {
  return `agents/${agentId.replace(/^\./, '_')}.log`;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * `detour gather-logs`: one tar.gz for a bug report. Through the daemon it gets
 * `status` and `list` (JSON) and the manager's and agents' recent logs; it adds
 * the daemon's log and the versions. Without a daemon (or a manager) it writes
 * what it has and says what is missing: that is not a failure of this command.
 */
export async function gatherLogsCommand(options: GatherLogsOptions, io: Io, home: DetourHome): Promise<number> {
  const now = options.now ?? new Date();
  const root = `detour-logs-${stamp(now)}`;
  const file = resolve(options.cwd, options.file ?? `${root}.tar.gz`);
  await claimOutput(file);

  const missing: Missing[] = [];
  const client = new DaemonClient(home);
  let status: DaemonStatus | undefined;
  let list: ServiceList | undefined;
  let logs: RecentLogs | undefined;
  try {
    status = await client.call<DaemonStatus>('GET', DAEMON_PATHS.status);
  } catch (err) {
    const reason = isDetourError(err) && err.code === 'DETOUR_ERR_CLI_NOT_CONNECTED' ? `no daemon runs for ${home.dir}` : reasonOf(err);
    missing.push({ part: 'status.json, list.json, manager and agent logs', reason });
  }
  if (status !== undefined) {
    [list, logs] = await Promise.all([ask<ServiceList>(client, DAEMON_PATHS.services, 'list.json', missing), ask<RecentLogs>(client, DAEMON_PATHS.logs, 'manager and agent logs', missing)]);
  }
  await client.close();

  // Redacting the structured parts collects what they held (header values); that is then cut out of every text too.
  const secrets = new Set<string>();
  const parts: Array<{ path: string; value: unknown }> = [];
  const json = (path: string, value: unknown) => parts.push({ path, value: redactReport(value, secrets).value });
  json('versions.json', {
    detour: options.version,
    node: process.version,
    os: { platform: platform(), release: release(), arch: arch() },
    ...(status === undefined ? {} : { daemon: status.daemon.version }),
    ...(logs !== undefined ? { manager: logs.manager.version } : status?.manager.version !== undefined ? { manager: status.manager.version } : {}),
  });
  if (status !== undefined) json('status.json', status);
  if (list !== undefined) json('list.json', list);

  const texts: Entry[] = [];
  const daemonLog = await readTail(home.logPath, DAEMON_LOG_TAIL_BYTES);
  if (daemonLog === undefined) missing.push({ part: 'daemon.log', reason: `no ${home.logPath}` });
  else texts.push({ path: 'daemon.log', text: daemonLog });
  if (logs !== undefined) {
    texts.push({ path: 'manager.log', text: logs.manager.log });
    for (const agent of logs.agents) texts.push({ path: agentFile(agent.agentId), text: agent.log });
    for (const agent of logs.missing) missing.push({ part: `agent ${agent.agentId} (${agent.service}) log`, reason: agent.reason });
  }
  json('manifest.json', {
    createdAt: now.toISOString(),
    files: [...parts.map((p) => p.path), ...texts.map((t) => t.path)],
    agents: logs?.agents.map((a) => ({ agentId: a.agentId, service: a.service, file: agentFile(a.agentId) })) ?? [],
    missing,
    redacted: 'tokens, session keys, authorization and cookie values, header values (header names kept)',
  });
  // JSON is scrubbed string by string, so a secret never cuts through an escape sequence.
  const scrubString = (_key: string, value: unknown) => (typeof value === 'string' ? scrubText(value, secrets) : value);
  const entries: Entry[] = [
    ...parts.map(({ path, value }) => ({ path, text: `${JSON.stringify(value, scrubString, 2)}\n` })),
    ...texts.map(({ path, text }) => ({ path, text: scrubText(text, secrets) })),
  ];

  const stage = await mkdtemp(join(tmpdir(), 'detour-gather-'));
  try {
    for (const entry of entries) {
      const path = join(stage, root, entry.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, entry.text, { mode: 0o600 });
    }
    await createTar({ gzip: true, portable: true, file, cwd: stage }, [root]);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }

  printLine(io, `wrote ${file} (${kib((await stat(file)).size)}); secrets are redacted, look it over before attaching it to a bug report:`);
  const width = Math.max(...entries.map((e) => e.path.length));
  for (const entry of entries) printLine(io, `  ${root}/${entry.path.padEnd(width)}  ${kib(Buffer.byteLength(entry.text))}`);
  if (missing.length > 0) {
    printLine(io, 'not included:');
    for (const item of missing) printLine(io, `  ${item.part}: ${item.reason}`);
  }
  if (status === undefined) printLine(io, 'note: without a running daemon only this machine is in the archive; run `detour connect` first to add the manager and agents.');
  return 0;
}
