import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { DetourError, isDetourError, readTokenFile } from '@detour/core';
import type { ErrorCode } from '@detour/protocol';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DaemonStatus, DetourHome } from '@detour/daemon/client';
import type { Io } from '../io.js';
import { printLine, printProgress } from '../io.js';
import { managerFromFlags } from '../manager-flags.js';

export interface ConnectOptions {
  /** Direct: the manager's URL and token file. Without them, through the kubeconfig. */
  manager?: string;
  tokenFile?: string;
  /** With --manager: the CA that verifies an https:// manager, or that cleartext off loopback is meant. */
  managerCa?: string;
  insecure?: boolean;
  context?: string;
  namespace?: string;
  name: string;
  timeoutMs: number;
}

/** The daemon's arguments for how it reaches the manager, and how that reads in messages. */
async function managerArguments(options: ConnectOptions, io: Io): Promise<{ args: string[]; where: string; sameAs: (status: DaemonStatus) => boolean }> {
  if (options.manager === undefined) {
    if (options.tokenFile !== undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', '--token-file goes with --manager URL; through the kubeconfig the token is read from the chart\'s Secret');
    const args = [
      ...(options.context === undefined ? [] : ['--kube-context', options.context]),
      ...(options.namespace === undefined ? [] : ['--kube-namespace', options.namespace]),
      // Overrides the CA the daemon would read from the chart's Secret.
      ...(options.managerCa === undefined ? [] : ['--manager-ca', resolve(options.managerCa)]),
    ];
    const where = `the detour manager through the kubeconfig${options.context === undefined ? '' : ` (context ${options.context})`}${options.namespace === undefined ? '' : ` in namespace ${options.namespace}`}`;
    const sameAs = (status: DaemonStatus) => {
      const route = status.manager.route;
      return route.kind === 'port-forward' && (options.context === undefined || route.context === options.context) && (options.namespace === undefined || route.namespace === options.namespace);
    };
    return { args, where, sameAs };
  }
  if (options.context !== undefined || options.namespace !== undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--context and --namespace find the manager through the kubeconfig; drop them, or drop --manager');
  }
  if (options.tokenFile === undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', '--manager URL needs --token-file FILE (the manager\'s bearer token)');
  const { endpoint: managerUrl } = await managerFromFlags({ manager: options.manager, managerCa: options.managerCa, insecure: options.insecure }, io);
  // Read here too, so that a missing token file is reported before a daemon is spawned.
  await readTokenFile(options.tokenFile);
  return {
    // The daemon dials the manager as connect was told to: the same TLS flags, files made absolute (it runs elsewhere).
    args: [
      '--manager', managerUrl.origin, '--token-file', resolve(options.tokenFile),
      ...(options.managerCa === undefined ? [] : ['--manager-ca', resolve(options.managerCa)]),
      ...(options.insecure === true ? ['--insecure'] : []),
    ],
    where: managerUrl.origin,
    sameAs: (status) => status.manager.route.kind === 'direct' && status.manager.url === managerUrl.origin,
  };
}

/** Where a running daemon reaches its manager, for messages. */
function describeRoute(status: DaemonStatus): string {
  const { route } = status.manager;
  return route.kind === 'direct' ? status.manager.url : `${route.namespace}/${route.service} (port-forward, context ${route.context})`;
}

/** How long a daemon that never connected gets to leave on SIGTERM before SIGKILL. */
const DAEMON_STOP_GRACE_MS = 3_000;

/** Stops a daemon that failed to connect, and waits until it is gone, so no stray daemon holds the socket. */
async function stopDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), DAEMON_STOP_GRACE_MS);
  await exited;
  clearTimeout(killer);
}

/**
 * Messages the daemon sends its parent over IPC while `connect` waits. A failure carries its
 * code, so that `connect` exits 2 for a wrong token and 1 for a bug in the daemon.
 */
export type DaemonStartMessage = { type: 'ready' } | { type: 'failed'; code: ErrorCode; message: string };

async function currentStatus(client: DaemonClient): Promise<DaemonStatus | undefined> {
  try {
    return await client.call<DaemonStatus>('GET', DAEMON_PATHS.status);
  } catch (err) {
    if (isDetourError(err) && err.code === 'DETOUR_ERR_CLI_NOT_CONNECTED') return undefined;
    throw err;
  }
}

export async function connectCommand(options: ConnectOptions, io: Io, home: DetourHome, binPath: string): Promise<number> {
  const target = await managerArguments(options, io);
  const client = new DaemonClient(home);
  try {
    const existing = await currentStatus(client);
    if (existing !== undefined) {
      if (target.sameAs(existing)) {
        printLine(io, `Already connected to ${describeRoute(existing)} as ${existing.name} (${existing.connection.state})`);
        return 0;
      }
      throw new DetourError('DETOUR_ERR_CLI_USAGE', `already connected to ${describeRoute(existing)}; run \`detour quit\` first`);
    }
    printProgress(io, `Launching the daemon and connecting to ${target.where} …`);
    const child = spawn(
      process.execPath,
      [binPath, 'daemon', ...target.args, '--name', options.name],
      { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'], env: { ...io.env, DETOUR_HOME: home.dir } },
    );
    const outcome = await new Promise<DaemonStartMessage | { type: 'exited'; code: number | null } | { type: 'timeout' }>((done) => {
      const timer = setTimeout(() => done({ type: 'timeout' }), options.timeoutMs);
      child.once('message', (message: DaemonStartMessage) => {
        clearTimeout(timer);
        done(message);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        done({ type: 'exited', code });
      });
    });
    if (outcome.type === 'ready') {
      child.disconnect();
      child.unref();
      const status = await currentStatus(client);
      printLine(io, `Connected to ${status === undefined ? target.where : describeRoute(status)} as ${options.name}`);
      if (status !== undefined) printLine(io, `Your header: ${status.header.name}=${status.header.signedValue?.value ?? status.header.value}${status.header.signedValue === undefined ? '' : ` (signed, valid until ${new Date(status.header.signedValue.expiresAt).toISOString()})`}`);
      return 0;
    }
    if (outcome.type === 'timeout') {
      const status = await currentStatus(client).catch(() => undefined);
      await stopDaemon(child);
      throw new DetourError(
        'DETOUR_ERR_CLI_DAEMON_FAILED',
        `could not connect to ${target.where} within ${options.timeoutMs} ms: ${status?.connection.lastError ?? 'no answer'}; check that the manager runs${options.manager === undefined ? '' : ' and --manager'}`,
      );
    }
    if (outcome.type === 'failed') throw new DetourError(outcome.code, `connect failed: ${outcome.message}`);
    throw new DetourError('DETOUR_ERR_CLI_DAEMON_FAILED', `the daemon exited (code ${outcome.code}) before connecting; see ${home.logPath}`);
  } finally {
    await client.close();
  }
}
