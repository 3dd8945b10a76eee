import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Http2Server, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { targetPath } from '@detour/core';
import type { Intercept } from '@detour/protocol';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE, RELAY_HEADER_UPSTREAM_PROTOCOL } from '@detour/protocol';
import { routeChannel } from './diagnostics.js';
import type { RouteEvent, RouteKind } from './diagnostics.js';
import type { AgentContext } from './exchange.js';
import { forwardableHeaders, GRPC_STATUS, Http2StreamBridge, RELAY_HTTP2_SETTINGS, respondLocalError, widenSessionWindow } from '@detour/transport';
import type { Http2SessionPool } from '@detour/transport';
import { offlineError } from './offline.js';

const { NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Names a caller must not smuggle towards the manager or the developer: the relay sets them itself. */
const RELAY_OWNED = new Set([RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_UPSTREAM_PROTOCOL, RELAY_HEADER_OFFLINE]);

const NO_HEADERS: ReadonlyMap<string, readonly string[]> = new Map();

/**
 * The agent's HTTP/2 side (h2c with prior knowledge, or TLS with ALPN h2): one
 * server session per client connection, and a routing decision per *stream*,
 * with the same RouteTable as HTTP/1.1 (gRPC metadata are headers). Unmatched
 * streams go to the app over pooled HTTP/2 sessions, matched ones through the
 * manager to their developer, each bridged on its own.
 */
export class Http2Gateway {
  readonly #ctx: AgentContext;
  readonly #appPool: Http2SessionPool;
  readonly #server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #appScheme: string;

  constructor(ctx: AgentContext, appPool: Http2SessionPool) {
    this.#ctx = ctx;
    this.#appPool = appPool;
    this.#appScheme = ctx.options.app.tls === undefined ? 'http' : 'https';
    this.#server = http2.createServer({ settings: RELAY_HTTP2_SETTINGS });
    this.#server.on('session', (session) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      session.on('error', (err) => ctx.logger.debug({ err: err.message }, 'client HTTP/2 session error'));
      widenSessionWindow(session);
      // An idle client connection is closed as on HTTP/1.1; GOAWAY lets streams in flight finish.
      session.setTimeout(ctx.options.idleTimeoutMs, () => session.close());
    });
    this.#server.on('stream', (stream, headers, flags) => this.#route(stream, headers, (flags & NGHTTP2_FLAG_END_STREAM) !== 0));
  }

  /** Takes a connection whose next bytes are the HTTP/2 client preface (RFC 9113 §3.4). */
  accept(socket: Socket): void {
    this.#server.emit('connection', socket);
  }

  /** GOAWAY to every client: streams in flight finish, new ones go to another connection. */
  close(): Promise<void> {
    const closed = [...this.#sessions].map((session) => new Promise<void>((resolve) => session.close(() => resolve())));
    return Promise.all(closed).then(() => undefined);
  }

  destroy(): void {
    for (const session of this.#sessions) session.destroy();
  }

  #route(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, ended: boolean): void {
    stream.on('error', (err) => this.#ctx.logger.debug({ err: err.message }, 'client stream error'));
    const { router, link, options } = this.#ctx;
    const table = router.table;
    const path = targetPath(String(headers[':path'] ?? ''));
    const intercept = table.size === 0 ? undefined : table.match({ path, headers: captured(headers, table.headerNames) });
    let route: RouteKind = 'app';
    if (intercept !== undefined) route = intercept.online && link.ready ? 'intercept' : intercept.onDisconnect === 'fallback' ? 'fallback' : 'offline';
    if (routeChannel.hasSubscribers) {
      const event: RouteEvent = {
        service: options.service,
        agentId: options.agentId,
        method: String(headers[':method']),
        target: String(headers[':path'] ?? ''),
        route,
        interceptId: intercept?.id,
        ruleVersion: router.version,
      };
      routeChannel.publish(event);
    }
    if (route === 'intercept') this.#toRelay(stream, headers, ended, intercept!);
    else if (route === 'offline') this.#offline(stream, headers, intercept!);
    else this.#toApp(stream, headers, ended);
  }

  #toApp(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean): void {
    const { app } = this.#ctx.options;
    const unreachable = (reason: string) => {
      this.#ctx.logger.warn({ app: `${app.host}:${app.port}`, reason }, 'app unreachable over HTTP/2');
      respondLocalError(stream, headers, {
        status: 502,
        code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE',
        grpcStatus: GRPC_STATUS.UNAVAILABLE,
        message: `the app at ${app.host}:${app.port} did not answer over HTTP/2 (${reason})`,
      });
    };
    const out = forwardableHeaders(headers, RELAY_OWNED);
    out[':scheme'] = this.#appScheme;
    let up;
    try {
      up = this.#appPool.request(out, { endStream: requestEnded, waitForTrailers: !requestEnded });
    } catch (err) {
      unreachable((err as Error).message);
      return;
    }
    new Http2StreamBridge(stream, up, requestEnded, { onNoResponse: (code) => unreachable(code === undefined ? 'stream closed' : `HTTP/2 code ${code}`) });
  }

  #toRelay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, intercept: Intercept): void {
    const out = forwardableHeaders(headers, RELAY_OWNED);
    out[RELAY_HEADER_INTERCEPT_ID] = intercept.id;
    out[RELAY_HEADER_UPSTREAM_PROTOCOL] = 'h2';
    const up = this.#ctx.link.request(out, { endStream: requestEnded, waitForTrailers: !requestEnded });
    if (up === undefined) {
      this.#unrelayed(stream, headers, requestEnded, intercept);
      return;
    }
    // While no request byte has left, the request can still go to the app instead.
    let sent = 0;
    const count = (chunk: Buffer) => {
      sent += chunk.length;
    };
    stream.on('data', count);
    new Http2StreamBridge(stream, up, requestEnded, {
      dropResponse: RELAY_OWNED,
      refused: (response) => response[RELAY_HEADER_OFFLINE] !== undefined,
      onNoResponse: () => {
        stream.off('data', count);
        if (sent === 0) {
          this.#unrelayed(stream, headers, requestEnded || stream.readableEnded, intercept);
          return;
        }
        respondLocalError(stream, headers, {
          status: 503,
          code: 'DETOUR_ERR_TUNNEL_OFFLINE',
          grpcStatus: GRPC_STATUS.UNAVAILABLE,
          message: `the relay to ${intercept.owner.name} for intercept ${intercept.name} broke before an answer`,
        });
      },
    });
  }

  /** The relay is not available for this stream: the intercept's offline policy decides. */
  #unrelayed(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, intercept: Intercept): void {
    if (intercept.onDisconnect === 'fallback') this.#toApp(stream, headers, requestEnded);
    else this.#offline(stream, headers, intercept);
  }

  #offline(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, intercept: Intercept): void {
    const { message, details } = offlineError(intercept, this.#ctx.options.service);
    respondLocalError(stream, headers, { status: 503, code: 'DETOUR_ERR_TUNNEL_OFFLINE', grpcStatus: GRPC_STATUS.UNAVAILABLE, message, details });
  }
}

/** The values of the header names the rule set reads; `host` falls back to `:authority` (RFC 9113 §8.3.1). */
function captured(headers: IncomingHttpHeaders, names: ReadonlySet<string>): ReadonlyMap<string, readonly string[]> {
  if (names.size === 0) return NO_HEADERS;
  const out = new Map<string, readonly string[]>();
  for (const name of names) {
    const value = headers[name] ?? (name === 'host' ? headers[':authority'] : undefined);
    if (value !== undefined) out.set(name, Array.isArray(value) ? value : [String(value)]);
  }
  return out;
}
