import { chmod } from 'node:fs/promises';
import { readTokenFile } from '@detour/core';
import type { Logger } from '@detour/core';
import { DEFAULT_HEADER_NAME } from '@detour/protocol';
import type { ManagerEndpoint } from '@detour/transport';
import type { DaemonStatus } from './daemon-api.js';
import { headerValueFor, loadClientId } from './home.js';
import type { DetourHome } from './home.js';
import { ManagerClient } from './manager-client.js';
import { ManagerConnection } from './connection.js';
import { startControlServer } from './control-server.js';
import { LocalForwarder } from './local-forwarder.js';

export interface DaemonOptions {
  /** The manager and how to verify it (transport's `managerEndpoint`, built from --manager, --manager-ca, --insecure). */
  manager: ManagerEndpoint;
  tokenFile: string;
  name: string;
  home: DetourHome;
  version: string;
  logger: Logger;
  /** Called once, when the daemon first reaches the manager. */
  onReady: () => void;
}

export const DAEMON_DEFAULTS = {
  /** Tunnel liveness from the laptop's side; the manager checks at 500 ms / 1.5 s. */
  tunnelPingIntervalMs: 1_000,
  tunnelPingTimeoutMs: 3_000,
} as const;

/** Runs the user daemon until `detour quit` or a signal; resolves when it has cleaned up. */
export async function runDaemon(options: DaemonOptions, signal: AbortSignal): Promise<void> {
  const { logger, home } = options;
  const token = await readTokenFile(options.tokenFile);
  const clientId = loadClientId(home);
  const headerValue = headerValueFor(options.name, clientId);
  const manager = new ManagerClient(options.manager, token);
  if (options.manager.cleartextWarning !== undefined) logger.warn(options.manager.cleartextWarning);
  const connection = new ManagerConnection({
    manager,
    name: options.name,
    clientId,
    headerValue,
    logger,
    tunnel: { pingIntervalMs: DAEMON_DEFAULTS.tunnelPingIntervalMs, pingTimeoutMs: DAEMON_DEFAULTS.tunnelPingTimeoutMs },
    createForwarder: (portOf) => new LocalForwarder(portOf, logger),
  });
  let managerVersion: string | undefined;
  const status = async (): Promise<DaemonStatus> => {
    if (managerVersion === undefined && connection.state === 'ready') {
      managerVersion = await manager.info().then((info) => info.version, () => undefined);
    }
    return {
      daemon: { pid: process.pid, version: options.version, home: home.dir },
      manager: { url: manager.url, ...(managerVersion === undefined ? {} : { version: managerVersion }) },
      connection: { state: connection.state, since: connection.since, ...(connection.lastError === undefined ? {} : { lastError: connection.lastError }) },
      name: options.name,
      header: {
        name: DEFAULT_HEADER_NAME,
        value: headerValue,
        ...(connection.session?.signedValue === undefined ? {} : { signedValue: connection.session.signedValue }),
      },
      ...(connection.session === undefined ? {} : { session: connection.session }),
      intercepts: connection.intercepts,
    };
  };
  let quit!: () => void;
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  const control = await startControlServer({ socketPath: home.socketPath, connection, status, onQuit: () => quit(), logger });
  await chmod(home.socketPath, 0o600);
  signal.addEventListener('abort', () => void connection.shutdown().then(() => quit()), { once: true });
  logger.info({ manager: manager.url, name: options.name }, 'daemon started');
  try {
    await connection.start();
    options.onReady();
  } catch (err) {
    await control.close();
    throw err;
  }
  await quitting;
  await control.close();
  logger.info('daemon stopped');
}
