import { BODY_KIND, BodyFramer, FIELD_KIND, findHeadEnd, isDetourError, omitLines, parseResponseHead, requestBodyKind, responseBodyKind } from '@detour/core';
import type { RequestHead } from '@detour/core';
import type { Destination } from './destinations.js';
import { LINK_DOWN } from './destinations.js';
import type { Exchange, ExchangeHost } from './exchange.js';
import { BodyCopy, FALLTHROUGH_HEADER, fallthroughPlan, ineligibleNote } from './fallthrough.js';
import type { FallthroughPlan } from './fallthrough.js';
import type { HttpCopy } from './wiretap.js';
import type { Refusal, UpstreamConnection, UpstreamUser } from './upstream-pool.js';

const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Response body bytes copied next to a rewritten head rather than written separately. */
const INLINE_BODY_BYTES = 16 * 1024;

/**
 * Field lines never forwarded, in either direction: hop-by-hop ones (RFC 9110
 * §7.6.1), and those only detour's relay may set (RELAY_OWNED_HEADERS), which
 * a caller or an app must not be able to smuggle (dropped on HTTP/2 too).
 */
const NOT_FORWARDED =
  (1 << FIELD_KIND.CONNECTION) |
  (1 << FIELD_KIND.KEEP_ALIVE) |
  (1 << FIELD_KIND.PROXY_CONNECTION) |
  (1 << FIELD_KIND.TE) |
  (1 << FIELD_KIND.UPGRADE) |
  (1 << FIELD_KIND.CONNECTION_OPTION) |
  (1 << FIELD_KIND.RELAY_OWNED);
/** …but Upgrade when the request asks to switch protocols (RFC 9110 §7.8). */
const NOT_FORWARDED_BUT_UPGRADE = NOT_FORWARDED & ~(1 << FIELD_KIND.UPGRADE);

/** RFC 9110 §9.2.2: methods a client may expect to be repeated safely. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * A request forwarded over a pooled keep-alive connection: to the app, or
 * through a tunnel to a developer's local app (the matched path is the same
 * code over a different connection). Heads are parsed, bodies are forwarded
 * as the raw bytes they arrived as (chunked stays chunked), with backpressure
 * both ways; nothing is buffered whole — except for an intercept with
 * `--fallthrough-status`, whose request (up to its body bound) is kept so that a
 * listed status from the laptop can send it to the app instead (a replay).
 */
export class ForwardExchange implements Exchange, UpstreamUser {
  readonly #host: ExchangeHost;
  readonly #head: RequestHead;
  readonly #buf: Buffer;
  readonly #start: number;
  readonly #destination: Destination;
  readonly #headBytes: Buffer;
  readonly #request: BodyFramer;
  #upstream: UpstreamConnection | undefined;
  #wasReused = false;
  #retried = false;
  #responseBytes = 0;
  #pendingResponse: Buffer | undefined;
  #scanned = 0;
  #response: BodyFramer | undefined;
  #reusable = false;
  #closeClient = false;
  #upgraded = false;
  #waitingUpstream = false;
  #waitingClient = false;
  #done = false;
  /** Set while this request could still fall through to the app: what to replay. */
  #fallthrough: { plan: FallthroughPlan; head: Buffer; body: BodyCopy } | undefined;
  /** A body read already, sent after the head: this exchange is a fall-through replay. */
  readonly #replayBody: Buffer | undefined;
  /** The request's `--mode wiretap` copy: fed the body as it is consumed and told the answer's status. */
  tap: HttpCopy | undefined;

  constructor(host: ExchangeHost, head: RequestHead, buf: Buffer, start: number, destination: Destination, replayBody?: Buffer) {
    this.#host = host;
    this.#head = head;
    this.#buf = buf;
    this.#start = start;
    this.#destination = destination;
    this.#replayBody = replayBody;
    const note = this.#planFallthrough(head, buf);
    const hop = head.hopByHop;
    // The fast path: a head without hop-by-hop fields goes out as the very bytes that came in.
    this.#headBytes =
      hop === undefined && note === undefined
        ? buf.subarray(start, head.end)
        : head.upgrade
          ? omitLines(buf, start, head.end, hop ?? [], NOT_FORWARDED_BUT_UPGRADE, 'Connection: upgrade\r\n')
          : omitLines(buf, start, head.end, hop ?? [], NOT_FORWARDED, note === undefined ? '' : `${FALLTHROUGH_HEADER}: ${note}\r\n`);
    this.#request = new BodyFramer(requestBodyKind(head), head.contentLength, { code: 'DETOUR_ERR_AGENT_BAD_REQUEST' });
  }

  /**
   * For an intercept with `--fallthrough-status`: keeps a copy of the head (the
   * connection's buffer moves on) and prepares one of the body, or returns why
   * this request cannot fall through (an upgrade never does).
   */
  #planFallthrough(head: RequestHead, buf: Buffer): string | undefined {
    const intercept = this.#destination.intercept;
    const plan = intercept === undefined ? undefined : fallthroughPlan(intercept);
    if (plan === undefined || head.upgrade) return undefined;
    if (head.chunked) return ineligibleNote(plan, 'unknown-length');
    if (head.contentLength > plan.bodyLimitBytes) return ineligibleNote(plan, 'over-limit');
    this.#fallthrough = { plan, head: Buffer.from(buf.subarray(0, head.end)), body: new BodyCopy(plan.bodyLimitBytes) };
    return undefined;
  }

  start(): void {
    const upstream = this.#destination.pool.acquire(this);
    this.#wasReused = upstream?.reused ?? false;
    this.#use(upstream);
  }

  body(buf: Buffer, start: number, end: number): number {
    const upstream = this.#upstream;
    if (this.#upgraded) {
      if (upstream !== undefined) this.#toUpstream(upstream, buf.subarray(start, end));
      return end;
    }
    // Until a tunnel opens, the body stays with the client connection, so that a refusal can still send the request elsewhere.
    if (this.#request.done || this.#done || upstream === undefined || !upstream.open) return start;
    let stop: number;
    try {
      stop = this.#request.consume(buf, start, end);
    } catch (err) {
      this.#abandon();
      if (this.#responseBytes === 0 && isDetourError(err)) this.#host.fail(400, err.code, err.message);
      else this.#host.abort(err as Error);
      return end;
    }
    if (stop > start) {
      this.#fallthrough?.body.add(buf.subarray(start, stop));
      this.tap?.body(buf.subarray(start, stop), this.#request.done);
      this.#toUpstream(upstream, buf.subarray(start, stop));
    }
    return stop;
  }

  clientDrain(): void {
    if (!this.#waitingClient) return;
    this.#waitingClient = false;
    this.#upstream?.socket.resume();
  }

  clientEnd(): void {
    if (this.#upgraded) this.#upstream?.socket.end();
  }

  abort(): void {
    this.#abandon();
  }

  upstreamOpen(): void {
    const upstream = this.#upstream;
    if (this.#done || upstream === undefined) return;
    this.#sendHead(upstream);
    if (!this.#request.done) this.#host.pump();
  }

  /** Nothing was sent: a developer who is gone gets their intercept's offline policy; anything else is the caller's error. */
  upstreamRefused(refusal: Refusal): void {
    if (this.#done) return;
    this.#done = true;
    this.#upstream = undefined;
    const intercept = this.#destination.intercept;
    if (refusal.offline && intercept !== undefined) {
      const host = this.#host;
      host.follow(host.ctx.router.refused(this.#head.method, this.#head.target, intercept), this.#head, this.#buf, this.#start);
      // The body bytes held while the tunnel opened now go to the fallback exchange.
      host.pump();
      return;
    }
    const { error } = refusal;
    this.#host.fail(error.status, error.code, error.message, error.details);
  }

  upstreamDrain(): void {
    if (!this.#waitingUpstream) return;
    this.#waitingUpstream = false;
    this.#host.resumeReading();
  }

  upstreamData(chunk: Buffer): boolean {
    this.#responseBytes += chunk.length;
    if (this.#done) return false;
    if (this.#upgraded) {
      this.#toClient(chunk);
    } else {
      try {
        if (this.#response === undefined) this.#head_(chunk);
        else this.#forwardBody(chunk, 0, 0);
      } catch (err) {
        this.#upstreamFailed(err as Error);
      }
    }
    // Anything not yet written out is queued by reference (a partial head is copied).
    return this.#host.socket.writableLength > 0;
  }

  upstreamEnd(): void {
    if (this.#done) return;
    if (this.#upgraded) {
      this.#host.socket.end();
      return;
    }
    const response = this.#response;
    if (response?.kind === BODY_KIND.CLOSE) {
      response.end();
      this.#reusable = false;
      this.#complete();
      return;
    }
    // Cut short, or unanswered: without an upgrade HTTP/1.1 has no half-close, so
    // the connection is over. An app socket closes by itself (allowHalfOpen off);
    // a tunnel is a CONNECT stream whose END_STREAM is only a FIN (RFC 9113 §8.5)
    // and would stay half-open, leaving the caller waiting. Dropping it makes the
    // close that decides (retry, 502 or abort) follow on both paths alike.
    this.#upstream?.socket.destroy();
  }

  upstreamClose(error: Error | undefined): void {
    if (this.#done) return;
    this.#upstream = undefined;
    if (this.#upgraded) {
      this.#done = true;
      this.#host.finish(false);
      return;
    }
    if (this.#responseBytes === 0) {
      // Retry once, on a fresh connection, when a reused keep-alive connection
      // closed before any response byte: the app most likely timed it out just as
      // we sent. Only for idempotent methods (RFC 9110 §9.2.2), and only without
      // a body, because bodies are streamed, never kept, so they cannot be replayed.
      const retryable =
        this.#wasReused && !this.#retried && IDEMPOTENT.has(this.#head.method) && requestBodyKind(this.#head) === BODY_KIND.NONE;
      if (retryable) {
        this.#retried = true;
        this.#use(this.#destination.pool.connect(this));
        return;
      }
      this.#done = true;
      const { name, unreachable } = this.#destination;
      this.#host.fail(502, unreachable, `cannot reach ${name}: ${error?.message ?? 'connection closed without a response'}`);
      return;
    }
    this.#upstreamFailed(error ?? new Error('the app closed the connection mid-response'));
  }

  /** Takes a connection for this request: its head goes out now, or once a tunnel opens. */
  #use(upstream: UpstreamConnection | undefined): void {
    if (upstream === undefined) {
      this.upstreamRefused(LINK_DOWN);
      return;
    }
    this.#upstream = upstream;
    if (upstream.open) this.#sendHead(upstream);
  }

  #sendHead(upstream: UpstreamConnection): void {
    const replay = this.#replayBody;
    if (replay !== undefined && !this.#request.done) {
      // The client sent this body to the laptop already; it is the whole body (within its bound).
      upstream.socket.write(this.#headBytes);
      this.#request.consume(replay, 0, replay.length);
      this.#toUpstream(upstream, replay);
      return;
    }
    if (this.#request.done) {
      upstream.socket.write(this.#headBytes);
      return;
    }
    // Head and the first body bytes (usually read together) leave in one write.
    upstream.socket.cork();
    upstream.socket.write(this.#headBytes);
    process.nextTick(uncork, upstream);
  }

  #toUpstream(upstream: UpstreamConnection, bytes: Buffer): void {
    if (!upstream.socket.write(bytes) && !this.#waitingUpstream) {
      this.#waitingUpstream = true;
      this.#host.pauseReading();
    }
  }

  #toClient(bytes: Buffer): void {
    if (!this.#host.socket.write(bytes) && !this.#waitingClient) {
      this.#waitingClient = true;
      this.#upstream?.socket.pause();
    }
  }

  /** Parses response heads (skipping interim 1xx ones) from `chunk` plus what came before. */
  #head_(chunk: Buffer): void {
    let buf = chunk;
    if (this.#pendingResponse !== undefined) {
      buf = Buffer.concat([this.#pendingResponse, chunk]);
      this.#pendingResponse = undefined;
    }
    let start = 0;
    for (;;) {
      const end = findHeadEnd(buf, start, this.#scanned, buf.length, this.#destination.unreachable);
      if (end === -1) {
        if (buf.length - start > MAX_RESPONSE_HEAD_BYTES) throw new Error('response head too large');
        this.#pendingResponse = Buffer.from(buf.subarray(start));
        this.#scanned = Math.max(0, this.#pendingResponse.length - 3);
        return;
      }
      this.#scanned = end;
      const head = parseResponseHead(buf, start, end);
      if (head.status === 101 && this.#head.upgrade) {
        // Protocol switched (RFC 9110 §15.2.2): from now on both directions are opaque bytes.
        this.#upgraded = true;
        this.#toClient(buf.subarray(start));
        this.#host.pump();
        return;
      }
      if (head.status < 200) {
        // Interim responses (100 Continue, 103 Early Hints) pass through; the final one follows.
        this.#toClient(head.hopByHop === undefined ? buf.subarray(start, end) : omitLines(buf, start, end, head.hopByHop, NOT_FORWARDED));
        start = end;
        if (start === buf.length) return;
        continue;
      }
      const fallthrough = this.#fallthrough;
      if (fallthrough !== undefined && fallthrough.plan.statuses.has(head.status) && this.#request.done && !fallthrough.body.overLimit) {
        this.#fallThrough(fallthrough.head, fallthrough.body.body());
        return;
      }
      this.tap?.answered(head.status);
      const kind = responseBodyKind(head, this.#head.method);
      this.#response = new BodyFramer(kind, head.contentLength, { code: this.#destination.unreachable });
      this.#reusable = head.keepAlive && kind !== BODY_KIND.CLOSE;
      // The client connection persists only if the client wants it, the body is
      // self-delimited, and the request was read to its end.
      this.#closeClient = !this.#head.keepAlive || kind === BODY_KIND.CLOSE || !this.#request.done;
      const keepAlive10 = !this.#closeClient && this.#head.minor === 0;
      const extra = this.#closeClient ? 'Connection: close\r\n' : keepAlive10 ? 'Connection: keep-alive\r\n' : '';
      if (head.hopByHop === undefined && extra === '') {
        this.#forwardBody(buf, end, start);
        return;
      }
      // The rewritten head and a small body read with it leave in one buffer: one write, one syscall.
      const response = this.#response;
      const stop = response.consume(buf, end, buf.length);
      const tail = stop - end <= INLINE_BODY_BYTES ? stop : end;
      this.#toClient(omitLines(buf, start, end, head.hopByHop ?? [], NOT_FORWARDED, extra, tail));
      if (tail < stop) this.#toClient(buf.subarray(end, stop));
      this.#afterBody(response, stop, buf.length);
      return;
    }
  }

  /**
   * Forwards the response body bytes in `buf[bodyStart, …)`, writing from
   * `writeFrom` so that an unchanged head and its body leave in one write.
   */
  #forwardBody(buf: Buffer, bodyStart: number, writeFrom: number): void {
    const response = this.#response!;
    const stop = response.consume(buf, bodyStart, buf.length);
    if (stop > writeFrom) this.#toClient(writeFrom === 0 && stop === buf.length ? buf : buf.subarray(writeFrom, stop));
    this.#afterBody(response, stop, buf.length);
  }

  #afterBody(response: BodyFramer, stop: number, length: number): void {
    if (stop < length) this.#reusable = false; // bytes beyond the response: the app is out of step
    if (response.done) this.#complete();
  }

  #complete(): void {
    if (this.#done) return;
    this.#done = true;
    const { metrics } = this.#host.ctx;
    (this.#destination.intercept === undefined ? metrics.toApp : metrics.toDeveloper).observe((performance.now() - this.#host.requestStartedAt) / 1e3);
    const upstream = this.#upstream;
    this.#upstream = undefined;
    if (upstream !== undefined) {
      if (this.#reusable && this.#request.done) {
        if (this.#waitingClient) upstream.socket.resume();
        this.#destination.pool.release(upstream, this.#host.ctx.clock.now);
      } else {
        // The exchange is complete, so this is a close, not an abort: a tunnel ends its stream rather than reset it.
        upstream.user = undefined;
        upstream.retire();
      }
    }
    if (this.#waitingUpstream) this.#host.resumeReading();
    this.#host.finish(!this.#closeClient && this.#request.done);
  }

  /**
   * The laptop answered a `--fallthrough-status`: its answer is dropped with its
   * connection (unread), and the request, replayed from the copy, goes to the
   * app, whose answer the caller gets.
   */
  #fallThrough(headCopy: Buffer, body: Buffer): void {
    const intercept = this.#destination.intercept!;
    this.#abandon();
    if (this.#waitingUpstream) this.#host.resumeReading();
    this.#host.ctx.metrics.fellThrough++;
    this.#host.follow({ kind: 'fallback', intercept }, this.#head, headCopy, this.#start, body);
  }

  #upstreamFailed(err: Error): void {
    if (this.#done) return;
    this.#abandon();
    if (this.#response === undefined && !this.#upgraded) {
      const { name, unreachable } = this.#destination;
      this.#host.fail(502, unreachable, `bad response from ${name}: ${err.message}`);
      return;
    }
    this.#host.abort(err);
  }

  #abandon(): void {
    this.#done = true;
    const upstream = this.#upstream;
    this.#upstream = undefined;
    if (upstream !== undefined) {
      upstream.user = undefined;
      upstream.socket.destroy();
    }
  }
}

function uncork(upstream: UpstreamConnection): void {
  upstream.socket.uncork();
}
