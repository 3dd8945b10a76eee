import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Http2Server, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import { interceptOfflineError } from '@detour/core';
import type { Intercept } from '@detour/protocol';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE, RELAY_HEADER_UPSTREAM_PROTOCOL, RELAY_OWNED_HEADERS } from '@detour/protocol';
import { forwardableHeaders, forwardToPool, GRPC_STATUS, Http2StreamBridge, RELAY_HTTP2_SETTINGS, respondLocalError, widenSessionWindow } from '@detour/transport';
import type { Http2SessionPool } from '@detour/transport';
import type { AgentContext } from './exchange.js';
import { BodyCopy, FALLTHROUGH_HEADER, fallthroughPlan, h2FallsThrough, ineligibleNote } from './fallthrough.js';
import { headTooLargeMessage } from './local-response.js';
import type { LatencyRecorder } from './latency-recorder.js';
import type { Route } from './router.js';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR } = http2.constants;

/** One stream's latency: measured from its routing decision; `to` is where it went last (a late refusal moves it to the app). */
/** What follows one stream from decision to close: its latency record, and the deadline of a wait it already had. */
interface StreamState {
  readonly startedAt: number;
  to: LatencyRecorder | undefined;
  /** Set once the stream waited (`hold`): a refusal after the wake waits on only to this deadline. */
  holdUntilMs: number | undefined;
}

/** Names a caller must not smuggle towards the app, the manager or the developer: the relay sets them itself. */
const RELAY_OWNED: ReadonlySet<string> = new Set(RELAY_OWNED_HEADERS);

/**
 * node's 'stream' listener as node calls it: the raw field list comes fourth
 * (@types/node omits it). Unlike `headers`, which joins a repeated field's
 * values into one string ("bob, alice"), it keeps every value apart, as a
 * matcher needs them.
 */
type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

/**
 * What one field adds to a head measured as HTTP/1.1 would send it
 * (`name: value\r\n`): the size `maxHeaderBytes` bounds on both protocols.
 */
const FIELD_LINE_OVERHEAD_BYTES = 4;

/**
 * The agent's node:http2 side, behind the frame relay ({@link Http2Relay}):
 * it gets every stream that is not simply the app's — a developer's, a held
 * one, an offline answer, a wiretapped or traced one, a head over the limit —
 * over one in-memory connection per client connection, with the relay's
 * routing decision. Matched streams go through the manager to their
 * developer, each bridged on its own; the app's (fall-through replays,
 * wiretapped streams) over pooled HTTP/2 sessions.
 */
export class Http2Gateway {
  readonly #ctx: AgentContext;
  readonly #appPool: Http2SessionPool;
  readonly #server: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #appScheme: string;
  /** Each relayed session's decisions by stream id (the relay keeps stream ids). */
  readonly #decisions = new WeakMap<ServerHttp2Session, Map<number, Route>>();
  /** The decisions of the session being accepted: node creates the session synchronously in acceptRelayed. */
  #accepting: Map<number, Route> | undefined;

  constructor(ctx: AgentContext, appPool: Http2SessionPool) {
    this.#ctx = ctx;
    this.#appPool = appPool;
    this.#appScheme = ctx.options.app.tls === undefined ? 'http' : 'https';
    this.#server = http2.createServer({
      settings: RELAY_HTTP2_SETTINGS,
      // node resets a stream with more fields than this (ENHANCE_YOUR_CALM, default 128)
      // before we see it. Every field takes at least 5 bytes (`n: \r\n`), so no head
      // within maxHeaderBytes has more: past our limit, the client gets our 431.
      maxHeaderListPairs: Math.floor(ctx.options.maxHeaderBytes / (1 + FIELD_LINE_OVERHEAD_BYTES)) + 1,
    });
    this.#server.on('session', (session) => {
      if (this.#accepting !== undefined) this.#decisions.set(session, this.#accepting);
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      session.on('error', (err) => ctx.logger.debug({ err: err.message }, 'client HTTP/2 session error'));
      widenSessionWindow(session);
      // An idle client connection is closed as on HTTP/1.1; GOAWAY lets streams in flight finish.
      session.setTimeout(ctx.options.idleTimeoutMs, () => session.close());
    });
    const onStream: StreamListener = (stream, headers, flags, rawHeaders) => this.#route(stream, headers, rawHeaders, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    this.#server.on('stream', onStream as (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => void);
  }

  /**
   * Takes the relay's in-memory connection for one client connection;
   * `decisions` holds the router's decision for each stream the relay sends
   * (read once per stream), so that a stream is decided and counted once.
   */
  acceptRelayed(connection: Duplex, decisions: Map<number, Route>): void {
    this.#accepting = decisions;
    try {
      this.#server.emit('connection', connection);
    } finally {
      this.#accepting = undefined;
    }
  }

  /** GOAWAY to every client: streams in flight finish, new ones go to another connection. */
  close(): Promise<void> {
    const closed = [...this.#sessions].map((session) => new Promise<void>((resolve) => session.close(() => resolve())));
    return Promise.all(closed).then(() => undefined);
  }

  destroy(): void {
    for (const session of this.#sessions) session.destroy();
  }

  #route(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[], ended: boolean): void {
    stream.on('error', (err) => this.#ctx.logger.debug({ err: err.message }, 'client stream error'));
    const { router, link, options } = this.#ctx;
    if (headBytes(rawHeaders) > options.maxHeaderBytes) {
      this.#ctx.metrics.rejected('DETOUR_ERR_AGENT_HEAD_TOO_LARGE');
      // As HTTP/1.1's 431, but only this stream ends. gRPC: RESOURCE_EXHAUSTED is what
      // gRPC servers answer for metadata over their own limit (grpc.max_metadata_size).
      respondLocalError(stream, headers, {
        status: 431,
        code: 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE',
        grpcStatus: GRPC_STATUS.RESOURCE_EXHAUSTED,
        message: headTooLargeMessage(options.maxHeaderBytes),
      });
      return;
    }
    // While `detour trace` runs, a stream is a hop like an HTTP/1.1 request: reported when it closes (its exchange ended).
    if (router.probes !== undefined) {
      const sighting = router.probes.observeStream(String(headers[':path'] ?? ''), rawHeaders);
      if (sighting !== undefined) stream.once('close', () => sighting.end());
    }
    const latency: StreamState = { startedAt: performance.now(), to: undefined, holdUntilMs: undefined };
    const decisions = this.#decisions.get(stream.session as ServerHttp2Session);
    const decided = decisions?.get(stream.id!);
    decisions?.delete(stream.id!);
    const route = decided ?? router.decide(String(headers[':method']), String(headers[':path'] ?? ''), rawHeaders, link.ready);
    // `--mode wiretap`: a stream the app answers (or a developer, at once) is copied; a held one is never read early.
    if (router.wiretaps !== undefined && route.kind !== 'hold' && route.kind !== 'offline') {
      const wiretaps = router.wiretaps.matchingStream(String(headers[':path'] ?? ''), rawHeaders);
      if (wiretaps !== undefined) this.#ctx.wiretaps.copyStream(wiretaps, stream, headers, ended);
    }
    // A stream the app or the developer answered and that ended cleanly; resets and local errors are not latencies.
    stream.once('close', () => {
      if (latency.to !== undefined && stream.rstCode === NGHTTP2_NO_ERROR) latency.to.observe((performance.now() - latency.startedAt) / 1e3);
    });
    this.#follow(stream, headers, ended, route, latency);
  }

  /** Sends a stream where `route` says: the one switch of HTTP/2, for a fresh decision and a late refusal alike. */
  #follow(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, route: Route, latency: StreamState): void {
    if (route.kind === 'intercept') this.#toRelay(stream, headers, requestEnded, route.intercept!, latency);
    else if (route.kind === 'hold') this.#hold(stream, headers, requestEnded, route.intercept!, latency);
    else if (route.kind === 'offline') {
      const error = interceptOfflineError(route.intercept!);
      respondLocalError(stream, headers, { status: error.status, code: error.code, grpcStatus: GRPC_STATUS.UNAVAILABLE, message: error.message, details: error.details });
    } else this.#toApp(stream, headers, requestEnded, latency);
  }

  #toApp(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, latency: StreamState): void {
    const { app } = this.#ctx.options;
    latency.to = this.#ctx.metrics.toApp;
    const unreachable = (reason: string) => {
      latency.to = undefined;
      this.#ctx.logger.warn({ app: `${app.host}:${app.port}`, reason }, 'app unreachable over HTTP/2');
      respondLocalError(stream, headers, {
        status: 502,
        code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE',
        grpcStatus: GRPC_STATUS.UNAVAILABLE,
        message: `the app at ${app.host}:${app.port} did not answer over HTTP/2 (${reason})`,
      });
    };
    forwardToPool(stream, headers, requestEnded, this.#appPool, this.#appScheme, unreachable);
  }

  /**
   * Holds a stream for its developer before any relay stream opens. Its body
   * is not read meanwhile, so HTTP/2 flow control (RFC 9113 §5.2) stops the
   * client once the stream window is used up; a client reset cancels the wait.
   */
  #hold(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, intercept: Intercept, latency: StreamState): void {
    const declared = Number(headers['content-length'] ?? 0);
    const ask = { method: String(headers[':method']), target: String(headers[':path'] ?? ''), intercept, bodyBytes: Number.isFinite(declared) ? declared : 0, untilMs: latency.holdUntilMs };
    const held = this.#ctx.router.hold(ask, (route) => {
      stream.off('close', cancel);
      this.#follow(stream, headers, requestEnded || stream.readableEnded, route, latency);
    });
    if ('kind' in held) {
      this.#follow(stream, headers, requestEnded, held, latency);
      return;
    }
    latency.holdUntilMs = held.untilMs;
    // After a late refusal the stream may be flowing still (the relay's pipe is gone): body bytes must wait unread, not go to no one.
    stream.pause();
    const cancel = () => held.cancel();
    stream.once('close', cancel);
  }

  #toRelay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, intercept: Intercept, latency: StreamState): void {
    const out = forwardableHeaders(headers, RELAY_OWNED);
    out[RELAY_HEADER_INTERCEPT_ID] = intercept.id;
    out[RELAY_HEADER_UPSTREAM_PROTOCOL] = 'h2';
    // `--fallthrough-status`: the body streams to the laptop as always, and a copy within the bound is kept for a replay.
    const plan = fallthroughPlan(intercept);
    const declared = Number(headers['content-length'] ?? 0);
    const copy = plan === undefined ? undefined : declared > plan.bodyLimitBytes ? undefined : new BodyCopy(plan.bodyLimitBytes);
    if (plan !== undefined && copy === undefined) out[FALLTHROUGH_HEADER] = ineligibleNote(plan, 'over-limit');
    let fellThrough = false;
    const up = this.#ctx.link.request(out, { endStream: requestEnded, waitForTrailers: !requestEnded });
    if (up === undefined) {
      this.#refused(stream, headers, requestEnded, intercept, latency);
      return;
    }
    latency.to = this.#ctx.metrics.toDeveloper;
    // While no request byte has left, the request can still go to the app instead.
    let sent = 0;
    const count = (chunk: Buffer) => {
      sent += chunk.length;
      copy?.add(chunk);
    };
    stream.on('data', count);
    new Http2StreamBridge(stream, up, requestEnded, {
      dropResponse: RELAY_OWNED,
      refused: (response, ended) => {
        if (response[RELAY_HEADER_OFFLINE] !== undefined) return true;
        fellThrough = plan !== undefined && copy !== undefined && !copy.overLimit && h2FallsThrough(plan, response, ended);
        return fellThrough;
      },
      onNoResponse: () => {
        if (fellThrough) {
          this.#fallThrough(stream, headers, copy!, count, latency);
          return;
        }
        stream.off('data', count);
        if (sent === 0) {
          this.#refused(stream, headers, requestEnded || stream.readableEnded, intercept, latency);
          return;
        }
        latency.to = undefined;
        respondLocalError(stream, headers, {
          status: 503,
          code: 'DETOUR_ERR_TUNNEL_OFFLINE',
          grpcStatus: GRPC_STATUS.UNAVAILABLE,
          message: `the relay to ${intercept.owner.name} for intercept ${intercept.name} broke before an answer`,
        });
      },
    });
  }

  /**
   * The laptop answered a `--fallthrough-status` (its stream is reset, its
   * answer dropped): once the request has ended, it is replayed from the copy
   * to the app, whose answer the caller gets. A body that grows over the bound
   * meanwhile cannot be replayed: the caller gets 502 (said in the message).
   */
  #fallThrough(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, copy: BodyCopy, count: (chunk: Buffer) => void, latency: StreamState): void {
    const replay = () => {
      stream.off('data', count);
      if (stream.destroyed || stream.closed) return;
      if (copy.overLimit) {
        latency.to = undefined;
        respondLocalError(stream, headers, {
          status: 502,
          code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE',
          grpcStatus: GRPC_STATUS.UNAVAILABLE,
          message: 'the laptop answered a --fallthrough-status, but the request body grew over --fallthrough-body-limit and cannot be replayed to the app',
        });
        return;
      }
      this.#ctx.metrics.fellThrough++;
      latency.to = this.#ctx.metrics.toApp;
      const unreachable = (reason: string) => {
        latency.to = undefined;
        respondLocalError(stream, headers, {
          status: 502,
          code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE',
          grpcStatus: GRPC_STATUS.UNAVAILABLE,
          message: `the app did not answer the fall-through replay over HTTP/2 (${reason})`,
        });
      };
      forwardToPool(stream, headers, true, this.#appPool, this.#appScheme, unreachable, copy.body());
    };
    // The copy is complete once the caller ended its request; until then the body still flows into it.
    if (stream.readableEnded) replay();
    else {
      stream.once('end', replay);
      stream.resume();
    }
  }

  /** The relay is not available for this stream and no request byte left: the intercept's offline policy decides. */
  #refused(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean, intercept: Intercept, latency: StreamState): void {
    const route = this.#ctx.router.refused(String(headers[':method']), String(headers[':path'] ?? ''), intercept);
    latency.to = undefined;
    this.#follow(stream, headers, requestEnded, route, latency);
  }
}

/**
 * A request head's size as its HTTP/1.1 form would have (each field as
 * `name: value\r\n`, the pseudo-header fields standing for the request line,
 * within a few bytes), so that one `maxHeaderBytes` means the same on both
 * protocols. node's header strings are latin1, one char per byte.
 */
export function headBytes(rawHeaders: readonly string[]): number {
  let bytes = 0;
  for (let i = 0; i < rawHeaders.length; i++) bytes += rawHeaders[i]!.length;
  return bytes + (rawHeaders.length / 2) * FIELD_LINE_OVERHEAD_BYTES;
}
