import net from 'node:net';
import type { ServerHttp2Stream } from 'node:http2';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { respondStreamError, spliceStream } from '@detour/transport';
import type { Http1Observer } from './capture/http1-observer.js';

function unreachable(port: number, err: Error & { code?: string }): DetourError {
  return new DetourError('DETOUR_ERR_LOCAL_APP_UNREACHABLE', `nothing answered on 127.0.0.1:${port} (${err.code ?? err.message}); is your local app running?`, {
    cause: err,
    details: { port },
  });
}

/**
 * A connection tunnelled whole (a plain CONNECT): the agent's keep-alive
 * connection for HTTP/1.1 requests, or a raw TCP intercept's connection.
 * Connects to 127.0.0.1:<port>, answers 200 once connected, then splices.
 * allowHalfOpen: one side's FIN must not cut the other direction short.
 * `observer` (the inspector's, only while the dashboard runs) is handed each
 * chunk after the splice's pipes took it: it reads copies and never writes.
 */
export function forwardConnection(stream: ServerHttp2Stream, port: number, logger: Logger, observer?: Http1Observer): void {
  const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
  const early = (err: Error) => {
    observer?.end(`local app unreachable: ${(err as Error & { code?: string }).code ?? err.message}`);
    logger.warn({ port, err: err.message }, 'local app unreachable');
    respondStreamError(stream, unreachable(port, err));
  };
  socket.once('error', early);
  stream.once('close', () => socket.destroy());
  socket.once('connect', () => {
    socket.off('error', early);
    if (stream.destroyed) return;
    stream.respond({ ':status': 200 });
    spliceStream(stream, socket);
    if (observer === undefined) return;
    stream.on('data', (chunk: Buffer) => observer.request(chunk));
    socket.on('data', (chunk: Buffer) => observer.response(chunk));
    socket.once('end', () => observer.end());
    socket.once('close', () => observer.end());
  });
}
