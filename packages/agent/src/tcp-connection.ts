import http2 from 'node:http2';
import type net from 'node:net';
import type { ClientHttp2Stream } from 'node:http2';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE } from '@detour/protocol';
import type { Intercept } from '@detour/protocol';
import { spliceStream, spliceToTarget } from '@detour/transport';
import type { AgentContext } from './exchange.js';
import type { Route } from './router.js';

const { NGHTTP2_CANCEL, NGHTTP2_CONNECT_ERROR } = http2.constants;

/**
 * One connection on a raw TCP port (`--protocol tcp`). There is no request to
 * read, so the whole connection is routed at once by the service's global
 * `--mechanism tcp` intercept: to the developer as a plain CONNECT stream
 * (RFC 9113 §8.5) through the manager, or to the app. While the developer is
 * offline the intercept's policy applies: `fallback` → the app, `fail` → the
 * connection is closed (a raw protocol has no way to carry an error message),
 * `hold` → the connection waits, unread, for the developer or the hold time.
 */
export function handleTcpConnection(socket: net.Socket, ctx: AgentContext): void {
  // Nothing is read until the route is known, so that a fallback still has every byte.
  socket.pause();
  socket.on('error', () => socket.destroy());
  follow(socket, ctx.router.decideConnection(ctx.link.ready), ctx);
}

/**
 * Sends the connection where `route` says: the one switch of raw TCP, for a
 * fresh decision and a late refusal alike. `holdUntilMs`: the deadline of its
 * earlier wait, if it waited (a refusal after a wake waits on to it).
 */
function follow(socket: net.Socket, route: Route, ctx: AgentContext, holdUntilMs?: number): void {
  const intercept = route.intercept;
  if (route.kind === 'app' || route.kind === 'fallback') {
    spliceToTarget(socket, ctx.options.app, ctx.logger);
    return;
  }
  if (route.kind === 'offline') {
    ctx.logger.warn({ intercept: intercept!.id, remote: socket.remoteAddress }, `intercept ${intercept!.name} is offline (policy fail); closing the TCP connection`);
    socket.destroy();
    return;
  }
  if (route.kind === 'hold') {
    hold(socket, intercept!, ctx, holdUntilMs);
    return;
  }
  const stream = ctx.link.request(
    { ':method': 'CONNECT', ':authority': `${ctx.options.service}:${socket.localPort ?? 0}`, [RELAY_HEADER_INTERCEPT_ID]: intercept!.id },
    { endStream: false },
  );
  if (stream === undefined) follow(socket, ctx.router.refused('CONNECT', '', intercept!), ctx, holdUntilMs);
  else relay(socket, stream, intercept!, ctx, holdUntilMs);
}

/**
 * Holds the connection, still unread, until the developer is back or the hold
 * time passes. A paused socket reads nothing, so a client that leaves while
 * held is noticed only when the wait ends (an error or reset cancels it).
 */
function hold(socket: net.Socket, intercept: Intercept, ctx: AgentContext, holdUntilMs: number | undefined): void {
  let untilMs = holdUntilMs;
  const held = ctx.router.hold({ method: 'CONNECT', target: '', intercept, bodyBytes: 0, untilMs }, (route) => {
    socket.off('close', cancel);
    follow(socket, route, ctx, untilMs);
  });
  if ('kind' in held) {
    follow(socket, held, ctx, untilMs);
    return;
  }
  untilMs = held.untilMs;
  const cancel = () => held.cancel();
  socket.once('close', cancel);
}

/**
 * Waits for the developer's side to connect (`:status 200`), then splices.
 * Until then nothing of the client's was read, so a refusal by an offline
 * developer (`detour-offline`, or the stream dying unanswered) still gets the
 * intercept's offline policy.
 */
function relay(socket: net.Socket, stream: ClientHttp2Stream, intercept: Intercept, ctx: AgentContext, holdUntilMs: number | undefined): void {
  let settled = false;
  const refused = () => {
    settled = true;
    follow(socket, ctx.router.refused('CONNECT', '', intercept), ctx, holdUntilMs);
  };
  stream.on('error', () => undefined); // 'close' follows and decides
  stream.once('response', (headers) => {
    settled = true;
    const status = Number(headers[':status']);
    if (status === 200) {
      spliceStream(stream, socket);
      socket.resume();
      return;
    }
    stream.close(NGHTTP2_CANCEL);
    if (headers[RELAY_HEADER_OFFLINE] !== undefined) refused();
    else {
      ctx.logger.warn({ intercept: intercept.id, status }, "the developer's side refused the TCP connection; closing it");
      socket.destroy();
    }
  });
  stream.once('close', () => {
    if (!settled && !socket.destroyed) refused();
  });
  // A client gone before the developer's side answered: its connection failed (RFC 9113 §8.5).
  socket.once('close', () => {
    if (!settled && !stream.closed) stream.close(NGHTTP2_CONNECT_ERROR);
  });
}
