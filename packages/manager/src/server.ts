import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { AGENT_PROTOCOLS, API_PATHS, RELAY_HEADER_INTERCEPT_ID, SESSION_KEY_HEADER, TUNNEL_UPGRADE_TOKEN } from '@detour/protocol';
import type { AgentProtocol } from '@detour/protocol';
import { DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { AgentHub } from './agent-hub.js';
import { handleApi, sendError } from './api.js';
import type { ApiContext, ApiExchange } from './api.js';
import { checkBearer } from './auth.js';
import { relayStream } from './relay.js';
import { ManagerState } from './state.js';
import { RELAY_HTTP2_SETTINGS, widenSessionWindow } from '@detour/transport';
import { Tunnels } from './tunnels.js';
import { TraceBook } from './trace.js';

export interface ManagerOptions {
  host: string;
  port: number;
  token: string;
  leaseMs: number;
  globalAllowed: boolean;
  logger: Logger;
  version: string;
  /** How long `intercept` waits for every agent to acknowledge a rule. */
  ackTimeoutMs?: number;
  /** Tunnel liveness: a broken tunnel is noticed within about pingTimeoutMs (issue #2: "within about 2 s"). */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
}

export interface ManagerHandle {
  url: string;
  address: AddressInfo;
  close(): Promise<void>;
}

export const MANAGER_DEFAULTS = {
  ackTimeoutMs: 10_000,
  pingIntervalMs: 500,
  pingTimeoutMs: 1_500,
  /** Connections that send nothing are closed; protects the sniffing step from slow clients. */
  firstByteTimeoutMs: 10_000,
} as const;

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Sessions authenticated by an agent's watch stream; relay streams on them need no token of their own. */
const authenticated = new WeakSet<http2.Http2Session>();

function h1Exchange(req: http.IncomingMessage, res: http.ServerResponse): ApiExchange {
  return {
    method: req.method ?? 'GET',
    url: new URL(req.url ?? '/', 'http://manager'),
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    body: req,
    send: (status, body) => {
      if (res.headersSent) return;
      if (body === undefined) {
        res.writeHead(status).end();
        return;
      }
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    },
  };
}

function h2Exchange(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): ApiExchange {
  return {
    method: String(headers[':method']),
    url: new URL(String(headers[':path'] ?? '/'), 'http://manager'),
    header: (name) => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
    body: stream,
    send: (status, body) => {
      if (stream.destroyed || stream.headersSent) return;
      if (body === undefined) {
        stream.respond({ ':status': status }, { endStream: true });
        return;
      }
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(JSON.stringify(body));
    },
  };
}

/** Starts the manager: one port that speaks HTTP/1.1 (CLI, daemons' tunnels) and HTTP/2 (agents). */
export async function startManager(options: ManagerOptions): Promise<ManagerHandle> {
  const { logger } = options;
  const token = Buffer.from(options.token);
  const state = new ManagerState({ leaseMs: options.leaseMs, globalAllowed: options.globalAllowed });
  const hub = new AgentHub(state);
  const tunnels = new Tunnels({
    pingIntervalMs: options.pingIntervalMs ?? MANAGER_DEFAULTS.pingIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs ?? MANAGER_DEFAULTS.pingTimeoutMs,
    logger,
    onDown: (sessionId) => hub.push(state.setTunnel(sessionId, false)),
  });
  const context: ApiContext = {
    state,
    hub,
    tunnels,
    logger,
    version: options.version,
    ackTimeoutMs: options.ackTimeoutMs ?? MANAGER_DEFAULTS.ackTimeoutMs,
    traces: new TraceBook(),
  };

  const h1 = http.createServer({ headersTimeout: MANAGER_DEFAULTS.firstByteTimeoutMs }, (req, res) => {
    const exchange = h1Exchange(req, res);
    try {
      checkBearer(exchange.header('authorization'), token);
    } catch (err) {
      sendError(logger, exchange, err);
      return;
    }
    void handleApi(context, exchange);
  });
  h1.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const refuse = (err: unknown) => {
      const error = isDetourError(err) ? err : new DetourError('DETOUR_ERR_INTERNAL_BUG', 'tunnel setup failed', { cause: err });
      const body = JSON.stringify(error.toBody());
      socket.end(`HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    try {
      if (new URL(req.url ?? '/', 'http://manager').pathname !== API_PATHS.tunnel || req.headers.upgrade?.toLowerCase() !== TUNNEL_UPGRADE_TOKEN) {
        throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `only ${API_PATHS.tunnel} with "Upgrade: ${TUNNEL_UPGRADE_TOKEN}" can be upgraded`);
      }
      checkBearer(req.headers.authorization, token);
      const key = req.headers[SESSION_KEY_HEADER];
      const session = state.sessionForKey(Array.isArray(key) ? key[0] : key);
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${TUNNEL_UPGRADE_TOKEN}\r\n\r\n`);
      if (head.length > 0) socket.unshift(head);
      tunnels.attach(session.id, socket);
      hub.push(state.setTunnel(session.id, true));
    } catch (err) {
      refuse(err);
    }
  });

  const h2 = http2.createServer({ settings: RELAY_HTTP2_SETTINGS });
  const agentSessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session) => {
    agentSessions.add(session);
    session.once('close', () => agentSessions.delete(session));
    widenSessionWindow(session);
    session.on('error', (err) => logger.debug({ err: err.message }, 'agent session error'));
  });
  h2.on('stream', (stream, headers, flags) => {
    stream.on('error', (err) => logger.debug({ err: err.message }, 'stream error'));
    const session = stream.session;
    if (headers[RELAY_HEADER_INTERCEPT_ID] !== undefined) {
      if (session === undefined || !authenticated.has(session)) {
        sendError(logger, h2Exchange(stream, headers), new DetourError('DETOUR_ERR_AUTH_MISSING_TOKEN', 'relay streams need a session authenticated by an agent watch'));
        return;
      }
      relayStream(stream, headers, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, state, tunnels, logger);
      return;
    }
    const exchange = h2Exchange(stream, headers);
    try {
      checkBearer(exchange.header('authorization'), token);
    } catch (err) {
      sendError(logger, exchange, err);
      return;
    }
    if (session !== undefined) authenticated.add(session);
    if (exchange.method === 'GET' && exchange.url.pathname === API_PATHS.agentWatch) {
      watchAgent(stream, exchange, hub, state, logger);
      return;
    }
    void handleApi(context, exchange);
  });

  // One port, both protocols: HTTP/2 with prior knowledge starts with the
  // connection preface (RFC 9113 §3.4); anything else is HTTP/1.x.
  // Nagle off on every accepted socket: relay and tunnel traffic is many small HTTP/2 frames.
  const listener = net.createServer({ noDelay: true }, (socket) => {
    const timer = setTimeout(() => socket.destroy(), MANAGER_DEFAULTS.firstByteTimeoutMs);
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const probe = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, probe).equals(H2_PREFACE.subarray(0, probe));
      if (isH2 && seen.length < 3) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      (isH2 ? h2 : h1).emit('connection', socket);
      // The HTTP/1.1 server reads from the socket's stream, which we paused to put the sniffed bytes back; the HTTP/2 session drains them itself.
      if (!isH2) socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => clearTimeout(timer));
  });
  listener.listen(options.port, options.host);
  await once(listener, 'listening');
  const address = listener.address() as AddressInfo;

  const expiry = setInterval(() => {
    const { expired, changed } = state.expireSessions();
    for (const session of expired) {
      tunnels.drop(session.id);
      logger.info({ sessionId: session.id, name: session.name }, 'session lease expired; its intercepts were removed');
    }
    hub.push(changed);
  }, Math.max(50, Math.min(1000, Math.floor(options.leaseMs / 4))));
  expiry.unref();

  let closing: Promise<void> | undefined;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    address,
    close: () =>
      (closing ??= (async () => {
        clearInterval(expiry);
        tunnels.destroyAll();
        const closed = once(listener, 'close');
        listener.close();
        h1.closeAllConnections();
        h2.close();
        for (const session of agentSessions) session.destroy();
        await closed;
      })()),
  };
}

function watchAgent(stream: ServerHttp2Stream, exchange: ApiExchange, hub: AgentHub, state: ManagerState, logger: Logger): void {
  const service = exchange.url.searchParams.get('service') ?? '';
  const agentId = exchange.url.searchParams.get('agentId') ?? '';
  const listen = exchange.url.searchParams.get('listen') ?? '';
  // Agents from before `--protocol` existed send none: they spoke HTTP/1.1 only.
  const protocol = exchange.url.searchParams.get('protocol') ?? 'http1';
  if (!/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(service) || !/^[A-Za-z0-9._-]{1,128}$/.test(agentId) || !isAgentProtocol(protocol)) {
    exchange.send(400, new DetourError('DETOUR_ERR_API_BAD_REQUEST', `watch needs ?service=<name>&agentId=<id>[&protocol=${AGENT_PROTOCOLS.join('|')}]`).toBody());
    return;
  }
  stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
  state.addAgent({ id: agentId, service, listen, protocol });
  logger.info({ agentId, service, listen, protocol }, 'agent connected');
  const sink = { write: (line: string) => void (stream.writable && stream.write(line)) };
  hub.attach(agentId, service, sink);
  stream.resume();
  stream.on('close', () => {
    hub.detach(agentId, sink);
    logger.info({ agentId, service }, 'agent disconnected');
  });
}

function isAgentProtocol(value: string): value is AgentProtocol {
  return (AGENT_PROTOCOLS as readonly string[]).includes(value);
}
