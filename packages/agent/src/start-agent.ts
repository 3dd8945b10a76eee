import { once } from 'node:events';
import net from 'node:net';
import { ClientConnection } from './client-connection.js';
import { ConnectionDispatcher } from './connection-dispatcher.js';
import { appDestination, TunnelPools } from './destinations.js';
import type { AgentContext } from './exchange.js';
import { Http2Gateway } from './h2-gateway.js';
import { Http2Relay } from './h2-relay.js';
import { Http2SessionPool, startMetricsListener } from '@detour/transport';
import type { MetricsListener } from '@detour/transport';
import { ManagerLink } from './manager-link.js';
import { AgentMetrics } from './metrics.js';
import { WiretapSender } from './wiretap.js';
import { resolveOptions, validEnvironment } from './options.js';
import type { AgentOptions } from './options.js';
import { ProbeReporter } from './probe-reporter.js';
import { Router } from './router.js';

/** A running agent. `close()` drains gracefully, `destroy()` stops at once; both are idempotent. */
export interface AgentHandle {
  readonly id: string;
  readonly address: { readonly host: string; readonly port: number };
  /** Where `GET /metrics` is served; undefined without `metricsPort`. */
  readonly metricsAddress: { readonly host: string; readonly port: number } | undefined;
  /** What `/metrics` answers (loading prom-client if no scrape did yet), with or without the listener. */
  metrics(): Promise<string>;
  /**
   * Publishes a new environment of the app (the `--env-file` re-read on `SIGHUP`), validated
   * as at start (`DETOUR_ERR_CONFIG_INVALID` naming no value); resolves once the manager
   * answered, or at once while the link is down (it is sent on the next session).
   */
  publishEnvironment(variables: ReadonlyArray<{ name: string; value: string }>): Promise<void>;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** Longest sweep period; shorter when a timeout is shorter, so a timeout fires within a quarter of itself. */
const MAX_SWEEP_MS = 1_000;
const MIN_SWEEP_MS = 10;

/**
 * Starts the sidecar: listens for the service's callers, forwards unmatched
 * requests to the app, and relays matched ones through the manager. Resolves
 * once listening; the manager link connects in the background. Connections
 * accepted before its first rule set wait for it (at most
 * `firstRulesTimeoutMs`), so a restarted agent does not send a developer's
 * requests to the app while it does not know their intercept yet.
 */
export async function startAgent(agentOptions: AgentOptions): Promise<AgentHandle> {
  const options = resolveOptions(agentOptions);
  const logger = options.logger.child({ service: options.service, agentId: options.agentId });
  const metrics = new AgentMetrics({
    openConnections: () => new Promise((resolve) => server.getConnections((err, count) => resolve(err === null ? count : 0))),
    managerConnected: (): boolean => link.ready,
    ruleSetVersion: (): number => router.version,
    routingKeyRejections: (): Readonly<Record<string, number>> => router.routingKeys.rejected,
  });
  const router = new Router({ service: options.service, agentId: options.agentId, logger }, metrics);
  const app = appDestination(options);
  const h2Pool = new Http2SessionPool({
    origin: `${options.app.tls === undefined ? 'http' : 'https'}://${net.isIPv6(options.app.host) ? `[${options.app.host}]` : options.app.host}:${options.app.port}`,
    tls: options.app.tls,
    idleTimeoutMs: options.upstreamIdleTimeoutMs,
  });
  const clock = { now: Date.now() };
  const connections = new Set<ClientConnection>();
  // allowHalfOpen: a client may send its request and shut its side; it still gets the response.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listenPort, options.listenHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  const address = Object.freeze({ host: bound.address, port: bound.port });
  const listen = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;

  // Reports travel on the link's session; the link is created next and only calls install() once started.
  const probeReporter = new ProbeReporter(options.service, options.agentId, { post: (path, body) => link.post(path, body) });
  const link = new ManagerLink({
    manager: options.manager,
    token: options.token,
    service: options.service,
    agentId: options.agentId,
    listen,
    protocol: options.protocol,
    logger,
    pingIntervalMs: options.pingIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs,
    reconnectInitialMs: options.reconnectInitialMs,
    reconnectMaxMs: options.reconnectMaxMs,
    recentLogs: () => options.logRing?.text() ?? '',
    environment: options.environment,
    install(ruleSet) {
      try {
        router.install(ruleSet, probeReporter.watch(ruleSet.probes));
        tunnels.retain(ruleSet.intercepts);
        startRouting();
        return true;
      } catch (err) {
        logger.error({ err: (err as Error).message, version: ruleSet.version }, 'cannot compile the rule set; keeping the previous one');
        return false;
      }
    },
  });
  const tunnels = new TunnelPools(link, options);
  const wiretaps = new WiretapSender(link, options.service, options.app.port);
  metrics.wiretapCounts = wiretaps.counts;
  const ctx: AgentContext = { options, logger, router, app, tunnels, link, clock, metrics, wiretaps };

  const gateway = new Http2Gateway(ctx, h2Pool);
  const h2 = new Http2Relay(ctx, gateway);
  const dispatcher = new ConnectionDispatcher({
    ctx,
    h2,
    http1(socket) {
      const conn = new ClientConnection(socket, ctx, (closed) => connections.delete(closed));
      connections.add(conn);
    },
  });
  // Until the first rule set (or its timeout) a connection is held unread: its bytes wait in the socket.
  let waiting: Set<net.Socket> | undefined = new Set();
  const startRouting = () => {
    if (waiting === undefined) return;
    clearTimeout(firstRulesTimer);
    const held = waiting;
    waiting = undefined;
    for (const socket of held) if (!socket.destroyed) dispatcher.accept(socket);
  };
  const firstRulesTimer = setTimeout(() => {
    if (waiting !== undefined) logger.warn({ firstRulesTimeoutMs: options.firstRulesTimeoutMs }, 'no rule set from the manager yet; routing every request to the app meanwhile');
    startRouting();
  }, options.firstRulesTimeoutMs).unref();
  server.on('connection', (socket) => {
    if (waiting === undefined) return void dispatcher.accept(socket);
    const held = waiting;
    held.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => held.delete(socket));
  });
  server.on('error', (err) => logger.error({ err: err.message }, 'listener error'));

  const sweepMs = Math.max(
    MIN_SWEEP_MS,
    Math.min(MAX_SWEEP_MS, Math.floor(Math.min(options.headerTimeoutMs, options.idleTimeoutMs, options.upstreamIdleTimeoutMs) / 4)),
  );
  const sweeper = setInterval(() => {
    const now = (clock.now = Date.now());
    for (const conn of connections) conn.sweep(now);
    app.pool.sweep(now);
    tunnels.sweep(now);
  }, sweepMs).unref();

  let metricsListener: MetricsListener | undefined;
  if (options.metrics !== undefined) {
    try {
      metricsListener = await startMetricsListener({ ...options.metrics, source: await metrics.registry(true), logger });
    } catch (err) {
      clearInterval(sweeper);
      server.close();
      throw err;
    }
    logger.info({ metrics: metricsListener.address }, 'metrics listening');
  }

  link.start();
  logger.info({ listen, app: `${options.app.host}:${options.app.port}` }, 'agent listening');

  let closing: Promise<void> | undefined;
  let destroying: Promise<void> | undefined;
  const serverClosed = () => new Promise<void>((resolve) => server.close(() => resolve()));
  const allClosed = () => Promise.all([...connections].map((conn) => (conn.socket.closed ? undefined : once(conn.socket, 'close'))));

  return {
    id: options.agentId,
    address,
    metricsAddress: metricsListener?.address,
    metrics: async () => (await metrics.registry()).metrics(),
    publishEnvironment: (variables) => link.publish(validEnvironment(variables)),
    close() {
      closing ??= (async () => {
        // Connections still waiting for the first rule set are routed now, then drained like the others.
        startRouting();
        const stopped = serverClosed();
        for (const conn of connections) conn.drain();
        await Promise.all([stopped, allClosed(), h2.close(), gateway.close(), link.close(), metricsListener?.close()]);
        clearInterval(sweeper);
        dispatcher.destroy();
        app.pool.close();
        tunnels.close();
        h2Pool.close();
        logger.info('agent closed');
      })();
      return closing;
    },
    destroy() {
      destroying ??= (async () => {
        for (const socket of waiting ?? []) socket.destroy();
        startRouting();
        const stopped = serverClosed();
        for (const conn of connections) conn.socket.destroy();
        h2.destroy();
        gateway.destroy();
        dispatcher.destroy();
        app.pool.destroy();
        tunnels.destroy();
        h2Pool.destroy();
        clearInterval(sweeper);
        await Promise.all([stopped, allClosed(), link.close(), metricsListener?.close()]);
      })();
      return destroying;
    },
  };
}
