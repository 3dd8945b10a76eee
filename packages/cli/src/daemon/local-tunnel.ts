import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { localRequestFields, relayResponseFields, respondError } from './relay-fields.js';

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

function unreachable(port: number, err: Error & { code?: string }): DetourError {
  return new DetourError('DETOUR_ERR_LOCAL_APP_UNREACHABLE', `nothing answered on 127.0.0.1:${port} (${err.code ?? err.message}); is your local app running?`, {
    details: { port },
  });
}

/**
 * Joins a CONNECT stream and a local socket byte for byte, with backpressure
 * both ways (pipe). RFC 9113 §8.5: END_STREAM is the FIN of each direction, and
 * a TCP error on one side resets the stream (CONNECT_ERROR) and vice versa.
 */
function splice(stream: ServerHttp2Stream, socket: net.Socket): void {
  stream.pipe(socket);
  socket.pipe(stream);
  socket.on('error', () => {
    if (!stream.closed) stream.close(NGHTTP2_CONNECT_ERROR);
  });
  stream.on('close', () => {
    if (stream.rstCode !== undefined && stream.rstCode !== NGHTTP2_NO_ERROR) socket.destroy();
  });
}

/**
 * A raw TCP connection tunnelled whole (a plain CONNECT, global `--mechanism tcp`
 * intercept): connects to 127.0.0.1:<port>, answers 200 once connected, then
 * splices. allowHalfOpen: one side's FIN must not cut the other direction short.
 */
export function forwardTcp(stream: ServerHttp2Stream, port: number, logger: Logger): void {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
  const early = (err: Error) => {
    logger.warn({ port, err: err.message }, 'local app unreachable');
    respondError(stream, unreachable(port, err));
  };
  socket.once('error', early);
  stream.once('close', () => socket.destroy());
  socket.once('connect', () => {
    socket.off('error', early);
    if (stream.destroyed) return;
    stream.respond({ ':status': 200 });
    splice(stream, socket);
  });
}

/**
 * An HTTP/1.1 Upgrade relayed as an extended CONNECT (RFC 8441): replays it to
 * the local app as a real Upgrade request. RFC 8441 §5 maps the extended
 * CONNECT of a WebSocket to the GET of RFC 6455 (the agent relays only GET
 * upgrades this way). `101` from the app becomes `:status 200` plus its fields
 * (e.g. `sec-websocket-accept`) and both directions are spliced; any other
 * answer is relayed as the plain response it is.
 */
export function forwardUpgrade(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, port: number, logger: Logger): void {
  const token = String(headers[':protocol']);
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'GET',
    path: String(headers[':path'] ?? '/'),
    headers: { ...localRequestFields(headers, port), connection: 'upgrade', upgrade: token },
    // One connection per upgrade: it leaves HTTP once switched, so it is never pooled.
    agent: false,
  });
  stream.once('close', () => request.destroy());
  request.on('upgrade', (response: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (stream.destroyed) {
      socket.destroy();
      return;
    }
    stream.respond(relayResponseFields(200, response.headers));
    // Bytes the app sent right behind its 101 belong to the new protocol.
    if (head.length > 0) stream.write(head);
    splice(stream, socket);
  });
  request.on('response', (response: http.IncomingMessage) => {
    if (stream.destroyed) {
      response.destroy();
      return;
    }
    stream.respond(relayResponseFields(response.statusCode ?? 502, response.headers));
    response.pipe(stream);
  });
  request.on('error', (err) => {
    if (stream.headersSent) {
      if (!stream.closed) stream.close(NGHTTP2_CONNECT_ERROR);
      return;
    }
    logger.warn({ port, err: err.message }, 'local app unreachable');
    respondError(stream, unreachable(port, err));
  });
  request.end();
}
