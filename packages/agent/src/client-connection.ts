import type net from 'node:net';
import { findHeadEnd, interceptOfflineError, isDetourError, parseRequestHead } from '@detour/core';
import type { RequestHead } from '@detour/core';
import type { ErrorCode } from '@detour/protocol';
import type { AgentContext, Exchange, ExchangeHost } from './exchange.js';
import { ForwardExchange } from './forward-exchange.js';
import type { HeldRequest } from './held-requests.js';
import { errorResponse, headTooLargeMessage } from './local-response.js';
import type { PendingSighting } from './probe-reporter.js';
import type { Route } from './router.js';
import type { HttpCopy } from './wiretap.js';

const BAD_REQUEST = 'DETOUR_ERR_AGENT_BAD_REQUEST';
const CR = 0x0d;
const LF = 0x0a;

/** Why reading from the client is paused; reading resumes when no reason is left. */
const PAUSE_UPSTREAM = 1;
const PAUSE_PIPELINE = 2;

/** Connection states. */
const HEAD = 0; // waiting for (the rest of) a request head
const BUSY = 1; // an exchange owns the connection
const CLOSING = 2; // our side is ending; input is discarded

/**
 * One client connection: reads request heads, routes each request on its own
 * (a keep-alive connection opened before an intercept existed is routed by the
 * rules of the moment), and answers pipelined requests in order by handling one
 * exchange at a time while later bytes wait in the buffer.
 */
export class ClientConnection implements ExchangeHost {
  readonly socket: net.Socket;
  readonly ctx: AgentContext;
  readonly #onClosed: (conn: ClientConnection) => void;
  requestStartedAt = 0;
  #state = HEAD;
  #exchange: Exchange | undefined;
  #buf: Buffer | undefined;
  #start = 0;
  #scanned = 0;
  /** Where the head just parsed began (after any leading empty lines). */
  #headStart = 0;
  #paused = 0;
  #pumping = false;
  #repump = false;
  #clientEnded = false;
  #draining = false;
  /** Coarse time when the current wait began: head deadline while a head is due, idle deadline otherwise. */
  #since: number;
  #headDue = true;
  /** The current request, when a `detour trace` probe is active; reported when the exchange ends. */
  #sighting: PendingSighting | undefined;
  /** When the current request's hold ends, once it has waited: a late refusal after its wake waits on to the same deadline. */
  #holdUntilMs: number | undefined;
  /** The current request's copy for `--mode wiretap` intercepts, if some matched. */
  #tap: HttpCopy | undefined;

  constructor(socket: net.Socket, ctx: AgentContext, onClosed: (conn: ClientConnection) => void) {
    this.socket = socket;
    this.ctx = ctx;
    this.#onClosed = onClosed;
    this.#since = ctx.clock.now;
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('drain', () => this.#exchange?.clientDrain());
    socket.on('end', () => this.#end());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#state = CLOSING;
      this.#endSighting();
      const exchange = this.#exchange;
      this.#exchange = undefined;
      exchange?.abort();
      this.#onClosed(this);
    });
  }

  /** Applies the head and idle timeouts at coarse time `now` (called by the agent's sweep). */
  sweep(now: number): void {
    const { headerTimeoutMs, idleTimeoutMs } = this.ctx.options;
    if (this.#state === CLOSING) {
      // Lingering close: give the client time to read our final answer, then let go.
      if (now - this.#since >= headerTimeoutMs) this.socket.destroy();
      return;
    }
    if (this.#state !== HEAD) return;
    if (this.#headDue || this.#pendingBytes() > 0) {
      if (now - this.#since >= headerTimeoutMs) {
        this.fail(408, 'DETOUR_ERR_AGENT_HEAD_TIMEOUT', `request head not received within ${headerTimeoutMs} ms`);
      }
    } else if (now - this.#since >= idleTimeoutMs) {
      this.#closeGracefully();
    }
  }

  /** Graceful shutdown: idle connections close now, busy ones after their response. */
  drain(): void {
    this.#draining = true;
    if (this.#state === HEAD && this.#pendingBytes() === 0) this.#closeGracefully();
  }

  pauseReading(): void {
    this.#pause(PAUSE_UPSTREAM);
  }

  resumeReading(): void {
    this.#resume(PAUSE_UPSTREAM);
  }

  finish(keepAlive: boolean): void {
    this.#exchange = undefined;
    if (this.#sighting !== undefined) this.#endSighting();
    if (!keepAlive || this.#clientEnded || this.#draining) {
      this.#closeGracefully();
      return;
    }
    this.#state = HEAD;
    this.#since = this.ctx.clock.now;
    this.#headDue = this.#pendingBytes() > 0;
    this.#resume(PAUSE_UPSTREAM | PAUSE_PIPELINE);
    this.pump();
  }

  fail(status: number, code: ErrorCode, message: string, details?: Record<string, unknown>): void {
    const exchange = this.#exchange;
    this.#exchange = undefined;
    exchange?.abort();
    if (this.#state === CLOSING || this.socket.destroyed) return;
    this.ctx.metrics.rejected(code);
    this.ctx.logger.warn({ status, code, remote: this.socket.remoteAddress }, message);
    this.socket.write(errorResponse(status, code, message, true, details));
    this.#closeGracefully();
  }

  abort(reason: Error): void {
    this.ctx.logger.warn({ err: reason.message, remote: this.socket.remoteAddress }, 'response cut off; dropping the client connection');
    this.socket.destroy();
  }

  follow(route: Route, head: RequestHead, buf: Buffer, start: number, replayBody?: Buffer): void {
    if (route.kind === 'offline') {
      const error = interceptOfflineError(route.intercept!);
      this.fail(error.status, error.code, error.message, error.details);
      return;
    }
    if (route.kind === 'hold') {
      this.#hold(route, head, buf, start);
      return;
    }
    const { app, tunnels } = this.ctx;
    const exchange = new ForwardExchange(this, head, buf, start, route.kind === 'intercept' ? tunnels.destination(route.intercept!) : app, replayBody);
    exchange.tap = this.#tap;
    this.#state = BUSY;
    this.#exchange = exchange;
    exchange.start();
  }

  pump(): void {
    if (this.#pumping) {
      this.#repump = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#repump = false;
        this.#pumpOnce();
      } while (this.#repump);
    } finally {
      this.#pumping = false;
    }
  }

  #data(chunk: Buffer): void {
    if (this.#state === CLOSING) return;
    if (this.#buf === undefined) {
      this.#buf = chunk;
      this.#start = 0;
      if (this.#state === HEAD && !this.#headDue) {
        // First byte of the next request: its head deadline starts now.
        this.#headDue = true;
        this.#since = this.ctx.clock.now;
      }
    } else {
      this.#buf = Buffer.concat([this.#buf.subarray(this.#start), chunk]);
      this.#scanned -= this.#start;
      this.#start = 0;
    }
    this.pump();
  }

  #end(): void {
    this.#clientEnded = true;
    const exchange = this.#exchange;
    if (exchange !== undefined) exchange.clientEnd();
    else if (this.#state === HEAD) this.#closeGracefully();
  }

  #pendingBytes(): number {
    return this.#buf === undefined ? 0 : this.#buf.length - this.#start;
  }

  #consumeTo(at: number): void {
    if (at >= this.#buf!.length) {
      this.#buf = undefined;
      this.#start = 0;
      this.#scanned = 0;
    } else {
      this.#start = at;
    }
  }

  /** Feeds buffered bytes to the current exchange, or parses the next head; loops while progress is made. */
  #pumpOnce(): void {
    for (;;) {
      const buf = this.#buf;
      if (buf === undefined || this.#state === CLOSING) return;
      const exchange = this.#exchange;
      if (exchange !== undefined) {
        const at = exchange.body(buf, this.#start, buf.length);
        if (this.#buf === buf) this.#consumeTo(at);
        if (this.#exchange === exchange) {
          // What is left is the next pipelined request, or a body the exchange cannot
          // take yet (its tunnel is opening): stop reading once a head's worth waits,
          // and read on once the exchange took it.
          if (this.#pendingBytes() > this.ctx.options.maxHeaderBytes) this.#pause(PAUSE_PIPELINE);
          else this.#resume(PAUSE_PIPELINE);
          return;
        }
        continue;
      }
      if (this.#state !== HEAD) return;
      const head = this.#parseHead(buf);
      if (head === undefined) return;
      this.#dispatch(head, buf, this.#headStart);
    }
  }

  #parseHead(buf: Buffer): RequestHead | undefined {
    let start = this.#start;
    // RFC 9112 §2.2: ignore empty lines received before a request-line.
    while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;
    this.#consumeTo(start);
    if (this.#buf === undefined) return undefined;
    const { maxHeaderBytes } = this.ctx.options;
    let end: number;
    let head: RequestHead;
    try {
      end = findHeadEnd(buf, start, this.#scanned, buf.length, BAD_REQUEST);
      if (end === -1) {
        if (buf.length - start >= maxHeaderBytes) {
          this.fail(431, 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE', headTooLargeMessage(maxHeaderBytes));
        } else {
          this.#scanned = Math.max(start, buf.length - 3);
        }
        return undefined;
      }
      if (end - start > maxHeaderBytes) {
        this.fail(431, 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE', headTooLargeMessage(maxHeaderBytes));
        return undefined;
      }
      head = parseRequestHead(buf, start, end, this.ctx.router.capture);
    } catch (err) {
      if (!isDetourError(err)) throw err;
      this.fail(400, BAD_REQUEST, `malformed request: ${err.message}`);
      return undefined;
    }
    if (head.method === 'CONNECT') {
      this.fail(400, BAD_REQUEST, 'malformed request: CONNECT is not supported by the agent');
      return undefined;
    }
    this.#headStart = start;
    this.#consumeTo(end);
    this.#scanned = this.#start;
    return head;
  }

  /**
   * Holds the request for its developer: the connection stays busy and reads
   * no body byte (past `maxHeaderBytes` waiting it stops reading), so the
   * request goes on whole to wherever its wait ends.
   */
  #hold(route: Route, head: RequestHead, buf: Buffer, start: number): void {
    const ask = { method: head.method, target: head.target, intercept: route.intercept!, bodyBytes: Math.max(0, head.contentLength), untilMs: this.#holdUntilMs };
    const held = this.ctx.router.hold(ask, (next) => {
      this.#exchange = undefined;
      this.follow(next, head, buf, start);
      this.pump();
    });
    if ('kind' in held) {
      this.follow(held, head, buf, start);
      return;
    }
    this.#holdUntilMs = held.untilMs;
    this.#state = BUSY;
    this.#exchange = new HeldExchange(held);
  }

  #dispatch(head: RequestHead, buf: Buffer, start: number): void {
    const { router, link } = this.ctx;
    this.#holdUntilMs = undefined;
    // One field check per request while no trace runs (the hot path).
    if (router.probes !== undefined) this.#sighting = router.probes.observe(head);
    // One field check per request while no wiretap exists (the hot path), as for probes.
    const wiretaps = router.wiretaps?.matching(head.target, head.captured);
    this.#tap = wiretaps === undefined ? undefined : this.ctx.wiretaps.copy(wiretaps, head, buf, start);
    this.requestStartedAt = performance.now();
    this.follow(router.decide(head.method, head.target, head.captured, link.ready), head, buf, start);
  }

  #endSighting(): void {
    const sighting = this.#sighting;
    this.#sighting = undefined;
    sighting?.end();
  }

  #pause(reason: number): void {
    if (this.#paused === 0) this.socket.pause();
    this.#paused |= reason;
  }

  #resume(reasons: number): void {
    if (this.#paused === 0) return;
    this.#paused &= ~reasons;
    if (this.#paused === 0) this.socket.resume();
  }

  #closeGracefully(): void {
    if (this.#state === CLOSING) return;
    this.#state = CLOSING;
    this.#since = this.ctx.clock.now;
    this.#buf = undefined;
    // Keep reading (and discarding) so that the client sees our answer, not a reset.
    this.#paused = 0;
    this.socket.resume();
    this.socket.end();
  }
}

/** A request waiting in Router.hold: it takes no body byte, and the client going away cancels the wait. */
class HeldExchange implements Exchange {
  readonly #held: HeldRequest;

  constructor(held: HeldRequest) {
    this.#held = held;
  }

  start(): void {}

  body(_buf: Buffer, start: number): number {
    return start;
  }

  clientEnd(): void {}

  clientDrain(): void {}

  abort(): void {
    this.#held.cancel();
  }
}
