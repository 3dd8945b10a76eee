import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { RELAY_HEADER_INTERCEPT_ID } from '@detour/protocol';
import type { Intercept } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { LogRing, Logger } from '@detour/core';
import { MAX_HEADER_LIST_PAIRS, RELAY_HTTP2_SETTINGS, startMetricsListener, widenSessionWindow } from '@detour/transport';
import type { MetricsListener } from '@detour/transport';
import { AgentHub } from './agent-hub.js';
import { AgentWatch } from './agent-watch.js';
import { createApiHandler } from './api.js';
import { AuditLog } from './auth/audit-log.js';
import { AuthSource } from './auth/auth-source.js';
import type { ApiHandler } from './api.js';
import { h1Exchange, h2Exchange, headerOf, sendError } from './api-exchange.js';
import type { ApiContext } from './api-routes.js';
import { endRevoked, startLeaseExpiry } from './lease-expiry.js';
import { listenOnePort } from './listener.js';
import { LogCollection } from './log-collection.js';
import { ManagerMetrics } from './metrics.js';
import { relayStream } from './relay.js';
import { serveEgress } from './egress.js';
import { createEgressPolicy, EGRESS_DEFAULTS, egressNames } from './egress-policy.js';
import type { EgressOptions } from './egress-policy.js';
import { createAuthGate } from './route-auth.js';
import { RoutingKeyRing } from './routing-keys.js';
import type { RoutingKeyRingOptions } from './routing-keys.js';
import { PreviewRegistry } from './previews/preview-registry.js';
import { ManagerState } from './state.js';
import type { InterceptStore } from './store/intercept-store.js';
import { StoreSync } from './store/store-sync.js';
import { createTunnelUpgrade } from './tunnel-upgrade.js';
import { Tunnels } from './tunnels.js';
import { TraceBook } from './trace.js';
import { startWebhook } from './webhook-server.js';
import type { WebhookHandle, WebhookOptions } from './webhook-server.js';

export interface ManagerOptions {
  host: string;
  port: number;
  /** Single-token mode's one credential (the demo, trying detour out); ignored when `auth` is given. */
  token?: string;
  /** Who holds which credential: an auth file's identities (`AuthSource.open`). */
  auth?: AuthSource;
  /** Where audit lines go; the CLI passes stderr or `--audit-file`. Absent: kept in memory only, for `detour audit`. */
  audit?: AuditLog;
  leaseMs: number;
  globalAllowed: boolean;
  logger: Logger;
  version: string;
  /** How long `intercept` waits for every agent to acknowledge a rule. */
  ackTimeoutMs?: number;
  /** Tunnel liveness: a broken tunnel is noticed within about pingTimeoutMs (issue #2: "within about 2 s"). */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** The agent injector (Kubernetes): served on its own HTTPS port when given. */
  webhook?: Omit<WebhookOptions, 'logger'>;
  /** The ring the logger also writes to: served, with the agents' rings, to `detour gather-logs`. */
  logRing?: LogRing;
  /** How long `detour gather-logs` waits for agents' lines. */
  logsDeadlineMs?: number;
  /** Where intercepts outlive the process (--state-file, --state kubernetes); without one they live in memory only. */
  store?: InterceptStore;
  /**
   * Also serve `GET /metrics` without the token on a listener of its own at
   * this port (0 picks one), bound to `metricsHost` (default 127.0.0.1). The
   * main port's `/metrics` always needs the token.
   */
  metricsPort?: number;
  metricsHost?: string;
  /** The preview gateway's public origin, e.g. `http://preview.example.test`: previews are created only with one. */
  previewUrl?: string;
  /** Add prom-client's process and Node.js metrics (the CLI does; in-process tests leave them out). */
  processMetrics?: boolean;
  /**
   * `--tls-cert`/`--tls-key`: the one port speaks HTTPS (API, tunnels, agents' HTTP/2).
   * `clientCa` (`--client-ca`): agents must present a certificate it signed (mTLS).
   */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  /** `--signed-keys`: personal header values are signed and agents verify them; absent: values are plain. */
  signedKeys?: RoutingKeyRingOptions;
  /** Which destinations developers' outbound calls may reach (`detour run`); default: registered services, through their agents. */
  egress?: EgressOptions;
  /** Told the intercepts after each change (the Kubernetes side writes Events from it). */
  interceptObserver?: InterceptObserver;
}

/** Sees the whole list of intercepts: once with those restored from the store, then after every change. */
export interface InterceptObserver {
  restored(intercepts: readonly Intercept[]): void;
  changed(intercepts: readonly Intercept[]): void;
}

export interface ManagerHandle {
  url: string;
  address: AddressInfo;
  /** The injector's URL, when {@link ManagerOptions.webhook} was given. */
  webhookUrl?: string;
  /** The token-less metrics listener, when `metricsPort` was given. */
  metricsAddress: { readonly host: string; readonly port: number } | undefined;
  close(): Promise<void>;
}

export const MANAGER_DEFAULTS = {
  ackTimeoutMs: 10_000,
  /**
   * A dead tunnel is noticed at most interval + timeout after its last answer.
   * Developers' requests must follow the disconnect policy within 2 s of a cut
   * (issue 14), rule-set push to the agents included: 250 ms + 1.5 s leaves that
   * push ~250 ms (at 500 ms the network-cut case measured 1.91 s of its 2 s). The
   * timeout itself, which decides how slow a laptop's answer may be, stays.
   */
  pingIntervalMs: 250,
  pingTimeoutMs: 1_500,
  /** Connections that send nothing are closed; protects the sniffing step from slow clients. */
  firstByteTimeoutMs: 10_000,
  /** The token-less metrics listener: loopback, so only the node's own scraper (or a port-forward) reaches it. */
  metricsHost: '127.0.0.1',
} as const;

/** The manager's parts, wired together but listening nowhere; {@link startManager} puts them on a port. */
export interface Manager {
  context: ApiContext;
  /** The JSON API, for HTTP/1.1 requests and HTTP/2 streams alike. */
  api: ApiHandler;
  /** CLI and daemons: the API and the tunnel upgrade. */
  h1: http.Server;
  /** Agents: their watch, acks, sightings and relay streams. */
  h2: http2.Http2Server;
  /** Keeps options.store in step with the state; absent without a store. */
  sync: StoreSync | undefined;
}

function authSourceOf(options: ManagerOptions): AuthSource {
  if (options.auth !== undefined) return options.auth;
  if (options.token === undefined) throw new DetourError('DETOUR_ERR_INTERNAL_BUG', 'the manager needs a token or an auth file');
  return AuthSource.singleToken(options.token);
}

export function buildManager(options: ManagerOptions): Manager {
  const { logger } = options;
  let sync: StoreSync | undefined;
  const routingKeys = options.signedKeys === undefined ? undefined : new RoutingKeyRing(options.signedKeys);
  // Every intercept change may end some previews (revoked with their intercept): prune them before the snapshot is taken.
  const state = new ManagerState({
    leaseMs: options.leaseMs,
    globalAllowed: options.globalAllowed,
    onInterceptsChanged: () => {
      previews.prune();
      sync?.changed();
      options.interceptObserver?.changed(state.storedIntercepts().map((stored) => stored.intercept));
    },
    ...(routingKeys === undefined ? {} : { routingKeys: () => routingKeys.keys() }),
  });
  const previews = new PreviewRegistry({ interceptExists: (id) => state.getIntercept(id) !== undefined, onChanged: () => sync?.changed() });
  const snapshot = () => state.storedIntercepts().map((stored) => ({ ...stored, previews: previews.stored(stored.intercept.id) }));
  if (options.store !== undefined) sync = new StoreSync(options.store, snapshot, logger);
  const metrics = new ManagerMetrics(state);
  if (options.processMetrics === true) metrics.enableDefaultMetrics();
  const hub = new AgentHub(state, (seconds) => metrics.pushAcked(seconds));
  const tunnels = new Tunnels({
    pingIntervalMs: options.pingIntervalMs ?? MANAGER_DEFAULTS.pingIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs ?? MANAGER_DEFAULTS.pingTimeoutMs,
    logger,
    onDown: (sessionId) => hub.push(state.setTunnel(sessionId, false)),
  });
  const watches = new AgentWatch({ hub, state, logger });
  const context: ApiContext = {
    state,
    hub,
    tunnels,
    watches,
    logger,
    version: options.version,
    ackTimeoutMs: options.ackTimeoutMs ?? MANAGER_DEFAULTS.ackTimeoutMs,
    traces: new TraceBook(),
    logs: new LogCollection({ ring: options.logRing, agentDeadlineMs: options.logsDeadlineMs }),
    persisted: async () => sync?.flush(),
    metrics,
    routingKeys,
    previews,
    previewUrl: options.previewUrl?.replace(/\/+$/, ''),
    auth: authSourceOf(options),
    audit: options.audit ?? AuditLog.inMemory(),
    egress: egressNames(options.egress ?? EGRESS_DEFAULTS),
  };
  // A reload or a `detour token revoke` ends the sessions and agent links of identities it removed, at once.
  context.auth.onChange(() => endRevoked(context));
  const gate = createAuthGate(context.auth, state);
  const api = createApiHandler(context, gate);

  const h1 = http.createServer({ headersTimeout: MANAGER_DEFAULTS.firstByteTimeoutMs }, (req, res) => void api(h1Exchange(req, res)));
  h1.on('upgrade', createTunnelUpgrade({ gate, state, hub, tunnels }));

  const h2 = http2.createServer({ settings: RELAY_HTTP2_SETTINGS, maxHeaderListPairs: MAX_HEADER_LIST_PAIRS });
  h2.on('session', (session) => {
    watches.track(session);
    widenSessionWindow(session);
    session.on('error', (err) => logger.debug({ err: err.message }, 'agent session error'));
  });
  const egress = createEgressPolicy(options.egress ?? EGRESS_DEFAULTS, (service) => state.agentsOf(service), () => state.services().map((s) => s.name));
  const clientCertRequired = options.tls?.clientCa !== undefined;
  h2.on('stream', (stream, headers, flags) => {
    stream.on('error', (err) => logger.debug({ err: err.message }, 'stream error'));
    if (headers[':method'] === 'CONNECT' && headers[RELAY_HEADER_INTERCEPT_ID] === undefined) {
      // A developer's outbound call (the daemon's proxy): token and session key, like any call made for a session.
      try {
        const { session } = gate.authorize('caller-session', 'develop', { header: (name) => headerOf(headers, name) });
        serveEgress(stream, headers[':authority'], egress, session.name, logger);
      } catch (err) {
        sendError(logger, h2Exchange(stream, headers), err);
      }
      return;
    }
    // Apart from those, HTTP/2 is the agents' side of the port: with --client-ca each of their sessions must have presented a certificate the CA signed.
    if (clientCertRequired && (stream.session?.socket as TLSSocket | undefined)?.authorized !== true) {
      const reason = (stream.session?.socket as TLSSocket | undefined)?.authorizationError;
      sendError(logger, h2Exchange(stream, headers), new DetourError(
        'DETOUR_ERR_AUTH_CLIENT_CERT',
        `this manager accepts agents only with a client certificate signed by its --client-ca (${reason === undefined ? 'none was sent' : String(reason)}); start the agent with --client-cert and --client-key`,
      ));
      return;
    }
    if (headers[RELAY_HEADER_INTERCEPT_ID] === undefined) {
      void api(h2Exchange(stream, headers));
      return;
    }
    try {
      gate.authorizeRelay(watches.watched(stream.session));
    } catch (err) {
      sendError(logger, h2Exchange(stream, headers), err);
      return;
    }
    relayStream(stream, headers, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, state, tunnels, logger);
  });

  return { context, api, h1, h2, sync };
}

/** Starts the manager: one port that speaks HTTP/1.1 (CLI, daemons' tunnels) and HTTP/2 (agents). */
export async function startManager(options: ManagerOptions): Promise<ManagerHandle> {
  const { store, logger } = options;
  // Read before anything listens: a store that cannot be read stops the start-up instead of being overwritten.
  const stored = store === undefined ? [] : await store.load();
  const { context, h1, h2, sync } = buildManager(options);
  if (store !== undefined) {
    options.interceptObserver?.restored(stored.map((s) => s.intercept));
    context.state.restore(stored);
    for (const { intercept, previews } of stored) context.previews.restore(intercept.id, previews ?? []);
    logger.info({ store: store.description, intercepts: stored.length }, 'intercepts restored; offline until their daemons re-assert them');
    store.watchDeletions?.((interceptId) => context.hub.push(context.state.dropIntercept(interceptId)));
  }
  const port = await listenOnePort({
    host: options.host,
    port: options.port,
    firstByteTimeoutMs: MANAGER_DEFAULTS.firstByteTimeoutMs,
    http1: h1,
    http2: h2,
    logger,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  const address = port.server.address() as AddressInfo;
  let webhook: WebhookHandle | undefined;
  try {
    webhook = options.webhook === undefined ? undefined : await startWebhook({ ...options.webhook, logger: options.logger });
  } catch (err) {
    await port.close();
    await sync?.close();
    await store?.close();
    throw err;
  }
  let metricsListener: MetricsListener | undefined;
  try {
    if (options.metricsPort !== undefined) {
      metricsListener = await startMetricsListener({ host: options.metricsHost ?? MANAGER_DEFAULTS.metricsHost, port: options.metricsPort, source: context.metrics.registry, logger: options.logger });
    }
  } catch (err) {
    await Promise.all([port.close(), webhook?.close()]);
    throw err;
  }
  const expiry = startLeaseExpiry(context);
  const ring = context.routingKeys;
  // A rotation reaches the agents as a new rule set of every service within moments; daemons renew their values
  // only past half their lifetime, so a value signed with the new key hardly ever arrives at an agent before the key.
  const rotation = ring === undefined ? undefined : setInterval(() => {
    ring.rotate();
    context.hub.push(context.state.routingKeysChanged());
    logger.info({ keys: ring.keys().length }, 'routing keys rotated');
  }, ring.rotationMs).unref();

  let closing: Promise<void> | undefined;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${host}:${address.port}`,
    address,
    ...(webhook === undefined ? {} : { webhookUrl: webhook.url }),
    metricsAddress: metricsListener?.address,
    close: () =>
      (closing ??= (async () => {
        expiry.stop();
        clearInterval(rotation);
        const webhookClosed = webhook?.close();
        context.tunnels.destroyAll();
        h2.close();
        context.watches.destroyAll();
        await Promise.all([port.close(), webhookClosed, metricsListener?.close()]);
        await sync?.close();
        await store?.close();
        context.auth.close();
        await context.audit.close();
      })()),
  };
}
