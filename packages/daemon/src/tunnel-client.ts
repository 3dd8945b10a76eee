import http2 from 'node:http2';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { TUNNEL_UPGRADE_TOKEN } from '@detour/protocol';
import type { Logger } from '@detour/core';
import type { ManagerClient } from './manager-client.js';
import { MAX_HEADER_LIST_PAIRS, RELAY_HTTP2_SETTINGS, startKeepalive, widenSessionWindow } from '@detour/transport';
import type { LocalForwarder } from './local-forwarder.js';

export interface TunnelOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

/**
 * Dials the manager and upgrades to the tunnel; from then on the daemon is the
 * HTTP/2 *server* on that socket and the manager opens a stream per matched
 * request. Resolves with a handle whose `closed` settles when the tunnel dies.
 */
export async function openTunnel(
  manager: ManagerClient,
  sessionKey: string,
  forwarder: LocalForwarder,
  options: TunnelOptions,
  logger: Logger,
): Promise<{ closed: Promise<void>; destroy(): void }> {
  const socket = await manager.upgradeTunnel(TUNNEL_UPGRADE_TOKEN, sessionKey);
  // Many small HTTP/2 frames cross this socket; Nagle would hold each for an ACK.
  (socket as Socket).setNoDelay(true);
  const server = http2.createServer({ settings: RELAY_HTTP2_SETTINGS, maxHeaderListPairs: MAX_HEADER_LIST_PAIRS });
  server.on('stream', (stream, headers, flags) => {
    stream.on('error', (err) => logger.debug({ err: err.message }, 'relay stream error'));
    forwarder.handle(stream, headers, (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0);
  });
  const sessionReady = once(server, 'session') as Promise<[http2.ServerHttp2Session]>;
  // Over TLS the handshake's ALPN said http/1.1, true of the exchange before the 101 (RFC 9110 §7.8); node's
  // http2 server would take that for an HTTP/1.1 client and drop the socket. From here on it carries HTTP/2.
  if (socket instanceof TLSSocket) socket.alpnProtocol = null;
  server.emit('connection', socket);
  const [session] = await sessionReady;
  session.on('error', (err) => logger.warn({ err: err.message }, 'tunnel error'));
  widenSessionWindow(session);
  const closed = new Promise<void>((resolve) => {
    if (session.destroyed) resolve();
    else session.once('close', () => resolve());
  });
  // The manager pings too; this side needs its own ping to notice a manager
  // that vanished without closing the socket (a partition, a frozen VM).
  startKeepalive(session, {
    intervalMs: options.pingIntervalMs,
    timeoutMs: options.pingTimeoutMs,
    onTimeout: () => {
      logger.warn('tunnel ping timed out; reconnecting');
      session.destroy();
    },
  });
  return { closed, destroy: () => session.destroy() };
}
