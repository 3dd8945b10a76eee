import net from 'node:net';
import tls from 'node:tls';

/** The exchange that currently owns a pooled connection receives its events. */
export interface UpstreamUser {
  upstreamData(chunk: Buffer): void;
  upstreamDrain(): void;
  /** The app ended its side (FIN): completes a close-delimited response. */
  upstreamEnd(): void;
  upstreamClose(error: Error | undefined): void;
}

/**
 * One TCP connection to the app. Listeners are attached once, for the life of
 * the socket, and dispatch to the current owner: attaching them per request
 * would cost more than the request itself.
 */
export class UpstreamConnection {
  readonly socket: net.Socket;
  /** True once it has carried a complete exchange, i.e. when it is being reused (see the retry rule). */
  reused = false;
  user: UpstreamUser | undefined;
  idleSince = 0;
  #error: Error | undefined;
  readonly #pool: UpstreamPool;

  constructor(socket: net.Socket, pool: UpstreamPool) {
    this.socket = socket;
    this.#pool = pool;
    socket.on('data', (chunk: Buffer) => {
      if (this.user !== undefined) this.user.upstreamData(chunk);
      // An idle connection has nothing to say; bytes now mean it is broken.
      else socket.destroy();
    });
    socket.on('drain', () => this.user?.upstreamDrain());
    socket.on('end', () => {
      if (this.user !== undefined) this.user.upstreamEnd();
      else socket.destroy();
    });
    socket.on('error', (err) => {
      this.#error = err;
    });
    socket.on('close', () => {
      this.#pool.forget(this);
      const user = this.user;
      this.user = undefined;
      user?.upstreamClose(this.#error);
    });
  }
}

export interface UpstreamPoolOptions {
  host: string;
  port: number;
  maxIdle: number;
  idleTimeoutMs: number;
  /** Re-encrypt towards an `https://` app, verifying its certificate (default CAs unless `ca`). */
  tls?: { servername: string | undefined; ca: string | Buffer | undefined } | undefined;
}

/**
 * Keep-alive TCP connections to the app, most recently used first (a warm
 * connection is least likely to have been closed by the app's idle timer).
 */
export class UpstreamPool {
  readonly #options: UpstreamPoolOptions;
  readonly #idle: UpstreamConnection[] = [];
  readonly #all = new Set<UpstreamConnection>();
  #closed = false;

  constructor(options: UpstreamPoolOptions) {
    this.#options = options;
  }

  /** An idle connection, or a new one (writes before it connects are queued by the socket). */
  acquire(user: UpstreamUser): UpstreamConnection {
    const conn = this.#idle.pop() ?? this.connect();
    conn.user = user;
    return conn;
  }

  /** A new connection, for the one retry that must not land on another stale socket. */
  connect(): UpstreamConnection {
    const { host, port, tls: secure } = this.#options;
    const socket = secure === undefined
      ? net.connect({ host, port, noDelay: true })
      : tls.connect({ host, port, servername: secure.servername, ca: secure.ca, ALPNProtocols: ['http/1.1'] }).setNoDelay(true);
    const conn = new UpstreamConnection(socket, this);
    this.#all.add(conn);
    return conn;
  }

  /** Returns a connection whose exchange completed cleanly, at `now` (coarse clock, ms). */
  release(conn: UpstreamConnection, now: number): void {
    conn.user = undefined;
    conn.reused = true;
    if (this.#closed || conn.socket.destroyed || this.#idle.length >= this.#options.maxIdle) {
      conn.socket.destroy();
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
      this.#idle.shift()!.socket.destroy();
    }
  }

  get idleCount(): number {
    return this.#idle.length;
  }

  /** Closes idle connections now and every other one as it is released. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) conn.socket.destroy();
  }

  destroy(): void {
    this.close();
    for (const conn of this.#all) conn.socket.destroy();
  }
}
