import { chmod } from 'node:fs/promises';
import { readTokenFile } from '@detour/core';
import type { Logger } from '@detour/core';
import { DEFAULT_HEADER_NAME } from '@detour/protocol';
import type { ManagerEndpoint } from '@detour/transport';
import type { ManagerInfo } from '@detour/protocol';
import type { DaemonStatus, DashboardInfo, DashboardStart, ManagerRouteStatus } from './daemon-api.js';
import { headerValueFor, loadClientId } from './home.js';
import type { DetourHome } from './home.js';
import { ManagerClient } from './manager-client.js';
import { ManagerConnection } from './connection.js';
import { startControlServer } from './control-server.js';
import { LocalForwarder } from './local-forwarder.js';
import type { CaptureSwitch } from './capture/capture.js';
import { CAPTURE_DEFAULTS } from './capture/exchange-ring.js';
import { startDashboard } from './dashboard/dashboard-server.js';
import type { Dashboard } from './dashboard/dashboard-server.js';
import { EgressClient } from './egress-client.js';
import { OutboundProxy } from './outbound-proxy.js';

/** A way to the manager other than its URL (a port-forward): what status shows of it, and how it stops. */
export interface ManagerRoute {
  describe(): ManagerRouteStatus;
  close(): Promise<void>;
}

export interface DaemonOptions {
  /** The manager and how to verify it (transport's `managerEndpoint`: --manager, --manager-ca, --insecure; or a port-forward's local end). */
  manager: ManagerEndpoint;
  /** The manager's token: a file (--token-file), or read already (from the chart's Secret). */
  token: { file: string } | { value: string };
  /** Set when `manager` is the local end of a port-forward. */
  route?: ManagerRoute;
  name: string;
  home: DetourHome;
  version: string;
  logger: Logger;
  /** Port of the outbound proxy on 127.0.0.1 (0 picks a free one, the default). */
  outboundPort?: number;
  /** Called once, when the daemon first reaches the manager. */
  onReady: () => void;
}

export const DAEMON_DEFAULTS = {
  /** Tunnel liveness from the laptop's side; the manager checks at 250 ms / 1.5 s. */
  tunnelPingIntervalMs: 1_000,
  tunnelPingTimeoutMs: 3_000,
  /** The outbound proxy is for this laptop's processes only. */
  outboundHost: '127.0.0.1',
} as const;

/** Runs the user daemon until `detour quit` or a signal; resolves when it has cleaned up. */
export async function runDaemon(options: DaemonOptions, signal: AbortSignal): Promise<void> {
  const { logger, home } = options;
  const token = 'file' in options.token ? await readTokenFile(options.token.file) : options.token.value;
  const clientId = loadClientId(home);
  const headerValue = headerValueFor(options.name, clientId);
  const manager = new ManagerClient(options.manager, token);
  if (options.manager.cleartextWarning !== undefined) logger.warn(options.manager.cleartextWarning);
  const captureSwitch: CaptureSwitch = { current: undefined };
  const connection = new ManagerConnection({
    manager,
    name: options.name,
    clientId,
    headerValue,
    logger,
    tunnel: { pingIntervalMs: DAEMON_DEFAULTS.tunnelPingIntervalMs, pingTimeoutMs: DAEMON_DEFAULTS.tunnelPingTimeoutMs },
    createForwarder: (portOf) => new LocalForwarder(portOf, logger, captureSwitch),
  });
  const egress = new EgressClient({
    manager: () => manager.endpoint,
    authHeaders: () => connection.outboundHeaders(),
    pingIntervalMs: DAEMON_DEFAULTS.tunnelPingIntervalMs,
    pingTimeoutMs: DAEMON_DEFAULTS.tunnelPingTimeoutMs,
    logger,
  });
  const outbound = await OutboundProxy.start({ host: DAEMON_DEFAULTS.outboundHost, port: options.outboundPort ?? 0, dial: (host, port) => egress.open(host, port), logger });
  // Read once per session: a new session may mean a restarted manager, with other --egress flags. Not on every
  // status call, which must answer even while the manager hangs; the last answer stays meanwhile.
  let managerInfo: ManagerInfo | undefined;
  let infoSession: string | undefined;
  const status = async (): Promise<DaemonStatus> => {
    const sessionId = connection.session?.id;
    if (connection.state === 'ready' && sessionId !== undefined && sessionId !== infoSession) {
      const info = await manager.info().catch(() => undefined);
      if (info !== undefined) [managerInfo, infoSession] = [info, sessionId];
    }
    return {
      daemon: { pid: process.pid, version: options.version, home: home.dir },
      manager: {
        url: manager.url,
        ...(managerInfo === undefined ? {} : { version: managerInfo.version }),
        ...(managerInfo?.egress === undefined ? {} : { egress: managerInfo.egress }),
        route: options.route?.describe() ?? { kind: 'direct' },
      },
      connection: { state: connection.state, since: connection.since, ...(connection.lastError === undefined ? {} : { lastError: connection.lastError }) },
      outbound: { url: outbound.url, socks: `socks5h://${outbound.address.host}:${outbound.address.port}`, ...(outbound.lastError === undefined ? {} : { lastError: outbound.lastError }) },
      // With identities the manager names the session after the token's identity, not --name.
      name: connection.session?.name ?? options.name,
      header: {
        name: DEFAULT_HEADER_NAME,
        value: connection.session?.headerValue ?? headerValue,
        ...(connection.session?.signedValue === undefined ? {} : { signedValue: connection.session.signedValue }),
      },
      ...(connection.session === undefined ? {} : { session: connection.session }),
      intercepts: connection.intercepts,
    };
  };
  const dashboard = dashboardControl({
    overview: () => ({
      version: options.version,
      name: options.name,
      header: { name: DEFAULT_HEADER_NAME, value: headerValue },
      manager: manager.url,
      connection: { state: connection.state, since: connection.since, ...(connection.lastError === undefined ? {} : { lastError: connection.lastError }) },
    }),
    intercepts: () => connection.intercepts,
    services: () => connection.services(),
    previews: () => connection.previews(),
    createPreview: (name, create) => connection.createPreview(name, create),
    removePreview: (ref) => connection.removePreview(ref),
  }, captureSwitch, logger);
  let quit!: () => void;
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  let control: { close(): Promise<void> };
  try {
    control = await startControlServer({ socketPath: home.socketPath, connection, status, onQuit: () => quit(), dashboard, logger });
  } catch (err) {
    await outbound.close();
    throw err;
  }
  const stop = async () => {
    egress.close();
    await dashboard.stop();
    await Promise.all([control.close(), outbound.close(), options.route?.close()]);
  };
  await chmod(home.socketPath, 0o600);
  signal.addEventListener('abort', () => void connection.shutdown().then(() => quit()), { once: true });
  logger.info({ manager: manager.url, name: options.name, outbound: outbound.url }, 'daemon started');
  try {
    await connection.start();
    options.onReady();
  } catch (err) {
    await stop();
    throw err;
  }
  await quitting;
  await stop();
  logger.info('daemon stopped');
}

/** One dashboard per daemon, started on the first `detour dashboard` and kept until `--stop` or quit. */
function dashboardControl(sources: Parameters<typeof startDashboard>[1], captureSwitch: CaptureSwitch, logger: Logger) {
  let running: Promise<Dashboard> | undefined;
  const info = (d: Dashboard, started: boolean): DashboardInfo => ({ url: d.url, port: d.port, maxExchanges: d.options.maxExchanges, maxBytes: d.options.maxBytes, started });
  return {
    async start(request: DashboardStart): Promise<DashboardInfo> {
      if (running !== undefined) {
        const current = await running.catch(() => undefined);
        const same = current !== undefined && (request.port === undefined || request.port === 0 || request.port === current.port) && (request.maxExchanges ?? current.options.maxExchanges) === current.options.maxExchanges && (request.maxBytes ?? current.options.maxBytes) === current.options.maxBytes;
        if (current !== undefined && same) return info(current, false);
        // Other settings: the dashboard starts again with them (the captured requests go with the old one).
        await current?.close();
        running = undefined;
      }
      const starting = startDashboard(
        { port: request.port ?? 0, maxExchanges: request.maxExchanges ?? CAPTURE_DEFAULTS.maxExchanges, maxBytes: request.maxBytes ?? CAPTURE_DEFAULTS.maxBytes },
        sources,
        captureSwitch,
        logger.child({ component: 'dashboard' }),
      );
      running = starting;
      try {
        return info(await starting, true);
      } catch (err) {
        running = undefined;
        throw err;
      }
    },
    async stop(): Promise<void> {
      const current = running;
      running = undefined;
      await (await current?.catch(() => undefined))?.close();
    },
  };
}
