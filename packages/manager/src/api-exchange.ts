import type http from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { errorBody, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';

/** One API call, whichever HTTP version carried it. */
export interface ApiExchange {
  method: string;
  url: URL;
  header(name: string): string | undefined;
  /** The caller's address, for the audit log's "from where". */
  remote: string;
  body: AsyncIterable<Buffer>;
  send(status: number, body?: unknown): void;
  /** Answers a body that is not JSON (the Prometheus text of `/metrics`). */
  sendText(status: number, contentType: string, text: string): void;
  /**
   * The HTTP/2 stream that carries the call; absent over HTTP/1.1. Only the
   * agent watch needs it: its answer is a stream that never ends.
   */
  readonly h2Stream?: ServerHttp2Stream;
}

/** A request header by its lower-case name; a repeated one counts by its first value. */
export function headerOf(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Adapts an HTTP/1.1 request and its response. */
export function h1Exchange(req: http.IncomingMessage, res: http.ServerResponse): ApiExchange {
  return {
    method: req.method ?? 'GET',
    url: new URL(req.url ?? '/', 'http://manager'),
    header: (name) => headerOf(req.headers, name),
    remote: req.socket.remoteAddress ?? 'unknown',
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
    sendText: (status, contentType, text) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) }).end(text);
    },
  };
}

/** Adapts an HTTP/2 stream and the headers it opened with. */
export function h2Exchange(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): ApiExchange {
  return {
    method: String(headers[':method']),
    url: new URL(String(headers[':path'] ?? '/'), 'http://manager'),
    header: (name) => headerOf(headers, name),
    remote: stream.session?.socket?.remoteAddress ?? 'unknown',
    body: stream,
    h2Stream: stream,
    send: (status, body) => {
      if (stream.destroyed || stream.headersSent) return;
      if (body === undefined) {
        stream.respond({ ':status': status }, { endStream: true });
        return;
      }
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(JSON.stringify(body));
    },
    sendText: (status, contentType, text) => {
      if (stream.destroyed || stream.headersSent) return;
      stream.respond({ ':status': status, 'content-type': contentType });
      stream.end(text);
    },
  };
}

/** Answers with the error's status and JSON body; anything not a DetourError is a bug, logged with its stack. */
export function sendError(logger: Logger, exchange: Pick<ApiExchange, 'send'>, err: unknown): void {
  if (isDetourError(err)) {
    exchange.send(err.status, err.toBody());
    return;
  }
  logger.error({ err }, 'API handler failed');
  exchange.send(500, errorBody('DETOUR_ERR_INTERNAL_BUG', 'internal error; see the manager log'));
}
