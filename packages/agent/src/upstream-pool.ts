import type { Duplex } from 'node:stream';
import type { DetourError } from '@detour/core';

/** Why a connection that never opened was turned down (a tunnel the developer's side declined). */
export interface Refusal {
  /** The developer is not connected: the intercept's offline policy applies. */
  readonly offline: boolean;
  /** What the caller is told when no policy takes over. */
  readonly error: DetourError;
}

/** The exchange that currently owns a pooled connection receives its events. */
export interface UpstreamUser {
  /** The connection opened end to end (at once for the app; when the developer's side accepts, for a tunnel). */
  upstreamOpen(): void;
  /** The connection was turned down before it opened; nothing was sent on it. */
  upstreamRefused(refusal: Refusal): void;
  /** Bytes from the far side; returns true when the owner still holds `chunk` after the call (a write in progress). */
  upstreamData(chunk: Buffer): boolean;
  upstreamDrain(): void;
  /** The far side ended (FIN): completes a close-delimited response. */
  upstreamEnd(): void;
  upstreamClose(error: Error | undefined): void;
}

/**
 * How long a retired tunnel waits for the developer's side to end its half of
 * the stream before it is reset: an app that keeps a half-closed connection
 * open must not hold a stream on three hops for ever.
 */
export const TUNNEL_RETIRE_TIMEOUT_MS = 5_000;

/**
 * One pooled connection: a TCP (or TLS) socket to the app, or a tunnel to a
 * developer's laptop app (a CONNECT stream through the manager). Either way it
 * carries HTTP/1.1 bytes. Listeners are attached once, for the life of the
 * connection, and dispatch to the current owner: attaching them per request
 * would cost more than the request itself.
 */
export class UpstreamConnection {
  readonly socket: Duplex;
  /** False while a tunnel waits for the developer's side to accept it; nothing may be written until then. */
  open = false;
  /** True once it has carried a complete exchange, i.e. when it is being reused (see the retry rule). */
  reused = false;
  user: UpstreamUser | undefined;
  idleSince = 0;
  #error: Error | undefined;
  readonly #pool: UpstreamPool;
  /** A CONNECT stream on the agent's session to the manager, rather than a socket. */
  readonly #tunnel: boolean;
  #retiring = false;

  constructor(socket: Duplex, pool: UpstreamPool, tunnel = false) {
    this.socket = socket;
    this.#pool = pool;
    this.#tunnel = tunnel;
  }

  /** The far side accepted: from now on its bytes are the owner's. */
  opened(): void {
    if (this.open || this.socket.destroyed) return;
    this.open = true;
    const socket = this.socket;
    socket.on('data', (chunk: Buffer) => this.deliver(chunk));
    socket.on('drain', () => this.user?.upstreamDrain());
    socket.on('end', () => {
      if (this.user !== undefined) this.user.upstreamEnd();
      else this.retire();
    });
    socket.on('error', (err: Error) => {
      this.#error = err;
    });
    socket.on('close', () => {
      this.#pool.forget(this);
      const user = this.user;
      this.user = undefined;
      user?.upstreamClose(this.#error);
    });
    this.user?.upstreamOpen();
  }

  /** Hands bytes read to the owner; true when the owner still holds them after the call. */
  deliver(chunk: Buffer): boolean {
    if (this.user !== undefined) return this.user.upstreamData(chunk);
    // An idle connection has nothing to say; bytes now mean it is broken.
    this.socket.destroy();
    return false;
  }

  /** The far side declined before opening: the connection is dropped and its owner told why. */
  refused(refusal: Refusal): void {
    if (this.open) return;
    this.#pool.forget(this);
    this.retire();
    const user = this.user;
    this.user = undefined;
    user?.upstreamRefused(refusal);
  }

  /**
   * Closes a connection that carries no exchange (idle, done with, or refused).
   * A socket is destroyed. A tunnel is ended instead: END_STREAM is the FIN of
   * a CONNECT stream (RFC 9113 §8.5), so the daemon half-closes its connection
   * to the local app, the app closes it, and the stream ends on every hop
   * without a RST_STREAM. Resets must stay rare: the manager's HTTP/2 server
   * (nghttp2 >= 1.57, CVE-2023-44487 "rapid reset") allows a client a burst of
   * 1,000 received RST_STREAMs, refilled at 33/s, then sends GOAWAY
   * (INTERNAL_ERROR) and drops the whole session, the agent's registration and
   * every relay on it with it; node 20 cannot raise that limit. A reset per
   * closed tunnel crossed it after ~15 s of intercept churn. The daemon's
   * tunnel server counts the manager's resets the same way.
   */
  retire(): void {
    const socket = this.socket;
    if (!this.#tunnel || socket.destroyed) {
      socket.destroy();
      return;
    }
    if (this.#retiring) return;
    this.#retiring = true;
    if (!socket.writableEnded) socket.end();
    // Unread bytes would keep the stream from ending: nothing more is wanted from it.
    if (!this.open) socket.resume();
    const timer = setTimeout(() => socket.destroy(), TUNNEL_RETIRE_TIMEOUT_MS).unref();
    socket.once('close', () => clearTimeout(timer));
  }
}

export interface UpstreamPoolOptions {
  maxIdle: number;
  idleTimeoutMs: number;
  /**
   * Opens a new connection for `pool`; it calls `opened()` or `refused()` on it
   * when the far side answers. Undefined when none can be opened right now.
   */
  dial(pool: UpstreamPool): UpstreamConnection | undefined;
}

/**
 * Keep-alive connections to one destination, most recently used first (a warm
 * connection is least likely to have been closed by the far side's idle timer).
 */
export class UpstreamPool {
  readonly #options: UpstreamPoolOptions;
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  #closed = false;

  constructor(options: UpstreamPoolOptions) {
    this.#options = options;
  }

  /** An idle connection, or a new one (its owner waits for `upstreamOpen` unless it is `open`); undefined when none can be opened. */
  acquire(user: UpstreamUser): UpstreamConnection | undefined {
    const conn = this.#idle.pop();
    if (conn === undefined) return this.connect(user);
    conn.user = user;
    return conn;
  }

  /** A new connection for `user`; directly, for the one retry that must not land on another stale one. */
  connect(user: UpstreamUser): UpstreamConnection | undefined {
    const conn = this.#options.dial(this);
    if (conn === undefined) return undefined;
    conn.user = user;
    this.#all.add(conn);
    return conn;
  }

  /** Returns a connection whose exchange completed cleanly, at `now` (coarse clock, ms). */
  release(conn: UpstreamConnection, now: number): void {
    conn.user = undefined;
    conn.reused = true;
    if (this.#closed || conn.socket.destroyed || this.#idle.length >= this.#options.maxIdle) {
      conn.retire();
      return;
    }
    conn.idleSince = now;
    this.#idle.push(conn);
  }

  /** Removes a closed connection. */
  forget(conn: UpstreamConnection): void {
    this.#all.delete(conn);
    const at = this.#idle.indexOf(conn);
    if (at !== -1) this.#idle.splice(at, 1);
  }

  /** Closes connections idle for longer than the idle timeout. */
  sweep(now: number): void {
    // The oldest are at the bottom of the stack.
    while (this.#idle.length > 0 && now - this.#idle[0]!.idleSince >= this.#options.idleTimeoutMs) {
      this.#idle.shift()!.retire();
    }
  }

  /** Closes idle connections now and every other one as it is released. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) conn.retire();
  }

  destroy(): void {
    this.close();
    for (const conn of this.#all) conn.socket.destroy();
  }
}

/**
 * Large reads halve the syscalls of a big body against node's 64 KiB (1 MiB
 * bodies: 1,408 vs 1,157 MiB/s, median of 3 side by side); only the pages a read
 * fills count towards RSS, so small responses cost one page.
 */
const READ_BUFFER_BYTES = 128 * 1024;

/**
 * The read buffer of an app socket read with `onread`: node then reads into it
 * directly, without a new buffer and a stream push per read. It is reused for
 * the next read unless the bytes of the last one are still held (a write to a
 * slow client in progress), in which case it is handed over and replaced.
 */
export class ReadBuffer {
  #buf = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  #held = false;

  /** For `onread.buffer`: the buffer the next read goes into. */
  readonly next = (): Buffer => {
    if (this.#held) {
      this.#buf = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
      this.#held = false;
    }
    return this.#buf;
  };

  /** The bytes just read are still in use: the next read needs a fresh buffer. */
  hold(): void {
    this.#held = true;
  }
}
