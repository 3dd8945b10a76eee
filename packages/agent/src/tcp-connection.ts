import http2 from 'node:http2';
import type net from 'node:net';
import type { ClientHttp2Stream } from 'node:http2';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE } from '@detour/protocol';
import type { Intercept } from '@detour/protocol';
import { spliceToTarget } from '@detour/transport';
import { routeChannel } from './diagnostics.js';
import type { RouteEvent, RouteKind } from './diagnostics.js';
import type { AgentContext } from './exchange.js';

const { NGHTTP2_CANCEL, NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/**
 * One connection on a raw TCP port (`--protocol tcp`). There is no request to
 * read, so the whole connection is routed at once by the service's global
 * `--mechanism tcp` intercept: to the developer as a plain CONNECT stream
 * (RFC 9113 §8.5) through the manager, or to the app. While the developer is
 * offline the intercept's policy applies: `fallback` → the app, `fail` → the
 * connection is closed (a raw protocol has no way to carry an error message).
 */
export function handleTcpConnection(socket: net.Socket, ctx: AgentContext): void {
  // Nothing is read until the route is known, so that a fallback still has every byte.
  socket.pause();
  socket.on('error', () => socket.destroy());
  const intercept = ctx.router.tcpIntercept;
  if (intercept === undefined) {
    route(ctx, 'app', undefined);
    spliceToTarget(socket, ctx.options.app, ctx.logger);
    return;
  }
  if (intercept.online && ctx.link.ready) {
    const stream = ctx.link.request(
      { ':method': 'CONNECT', ':authority': `${ctx.options.service}:${socket.localPort ?? 0}`, [RELAY_HEADER_INTERCEPT_ID]: intercept.id },
      { endStream: false },
    );
    if (stream !== undefined) {
      route(ctx, 'intercept', intercept);
      relay(socket, stream, intercept, ctx);
      return;
    }
  }
  offline(socket, intercept, ctx);
}

function offline(socket: net.Socket, intercept: Intercept, ctx: AgentContext): void {
  if (intercept.onDisconnect === 'fallback') {
    route(ctx, 'fallback', intercept);
    spliceToTarget(socket, ctx.options.app, ctx.logger);
    return;
  }
  route(ctx, 'offline', intercept);
  ctx.logger.warn({ intercept: intercept.id, remote: socket.remoteAddress }, `intercept ${intercept.name} is offline (policy fail); closing the TCP connection`);
  socket.destroy();
}

/** Waits for the developer's side to connect (`:status 200`), then splices. */
function relay(socket: net.Socket, stream: ClientHttp2Stream, intercept: Intercept, ctx: AgentContext): void {
  let connected = false;
  stream.on('error', () => undefined); // 'close' follows and decides
  stream.once('response', (headers) => {
    const status = Number(headers[':status']);
    if (status === 200) {
      connected = true;
      socket.pipe(stream);
      stream.pipe(socket);
      socket.resume();
      return;
    }
    stream.close(NGHTTP2_CANCEL);
    // Nothing of the client's was read yet: the offline policy can still apply.
    if (headers[RELAY_HEADER_OFFLINE] !== undefined) offline(socket, intercept, ctx);
    else {
      ctx.logger.warn({ intercept: intercept.id, status }, "the developer's side refused the TCP connection; closing it");
      socket.destroy();
    }
  });
  stream.once('close', () => {
    const reset = stream.rstCode !== undefined && stream.rstCode !== NGHTTP2_NO_ERROR;
    if (connected && reset) socket.destroy();
    else if (!connected && !socket.destroyed && socket.isPaused() && stream.rstCode !== NGHTTP2_CANCEL) offline(socket, intercept, ctx);
  });
  // A client that went away without its FIN (or with an error) resets the stream
  // (RFC 9113 §8.5); after a clean FIN the stream ends on its own, once its
  // buffered bytes are out.
  socket.once('close', (hadError) => {
    if (!stream.closed && (hadError || !stream.writableEnded)) stream.close(NGHTTP2_CONNECT_ERROR);
  });
}

function route(ctx: AgentContext, kind: RouteKind, intercept: Intercept | undefined): void {
  if (!routeChannel.hasSubscribers) return;
  const event: RouteEvent = {
    service: ctx.options.service,
    agentId: ctx.options.agentId,
    method: 'CONNECT',
    target: '',
    route: kind,
    interceptId: intercept?.id,
    ruleVersion: ctx.router.version,
  };
  routeChannel.publish(event);
}
