import type net from 'node:net';
import tls from 'node:tls';
import { spliceToTarget } from '@detour/transport';
import type { AgentContext } from './exchange.js';
import type { Http2Relay } from './h2-relay.js';
import { sniffProtocol } from './protocol-sniffer.js';
import { handleTcpConnection } from './tcp-connection.js';
import type { SniffedProtocol } from './protocol-sniffer.js';

/** ALPN identifiers (RFC 7301; RFC 9113 §3.2) offered per listener protocol. */
const ALPN: Record<'http1' | 'h2c' | 'auto', string[]> = { http1: ['http/1.1'], h2c: ['h2'], auto: ['h2', 'http/1.1'] };

export interface ConnectionDispatcherOptions {
  ctx: AgentContext;
  /** Takes HTTP/2 connections (h2c preface, or ALPN h2). */
  h2: Http2Relay;
  /** Takes a socket whose (possibly unshifted) bytes start an HTTP/1.x request; the socket may be paused. */
  http1(socket: net.Socket): void;
}

/**
 * Decides what each accepted connection speaks and hands it on: TLS is
 * terminated first when the agent has a certificate (ALPN picks h2 or
 * http/1.1); then `--protocol` decides, and `auto` looks at the first bytes.
 * Bytes that are neither HTTP/2 nor HTTP/1.x go to the app untouched.
 */
export class ConnectionDispatcher {
  readonly #options: ConnectionDispatcherOptions;
  readonly #tlsServer: tls.Server | undefined;
  /** Connections not yet handed on, and spliced ones: the HTTP/2 relay and the HTTP/1.1 side track theirs. */
  readonly #own = new Set<net.Socket>();

  constructor(options: ConnectionDispatcherOptions) {
    this.#options = options;
    const { tls: identity, protocol, headerTimeoutMs } = options.ctx.options;
    if (identity === undefined) return;
    const alpn = ALPN[protocol === 'tcp' ? 'auto' : protocol];
    this.#tlsServer = tls.createServer({ cert: identity.cert, key: identity.key, ALPNProtocols: alpn, handshakeTimeout: headerTimeoutMs, allowHalfOpen: true });
    this.#tlsServer.on('secureConnection', (socket) => this.#decrypted(socket));
    this.#tlsServer.on('tlsClientError', (err, socket) => {
      options.ctx.logger.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
      socket.destroy();
    });
  }

  accept(socket: net.Socket): void {
    if (this.#tlsServer !== undefined) {
      this.#tlsServer.emit('connection', socket);
      return;
    }
    this.#plain(socket);
  }

  /** Drops connections still being sniffed and spliced ones. */
  destroy(): void {
    for (const socket of this.#own) socket.destroy();
  }

  #decrypted(socket: tls.TLSSocket): void {
    if (socket.alpnProtocol === 'h2') this.#options.h2.accept(socket);
    else if (socket.alpnProtocol === 'http/1.1') this.#http1(socket);
    // No ALPN (curl --no-alpn, old clients): the decrypted bytes are sniffed like a plaintext port's.
    else this.#plain(socket);
  }

  #plain(socket: net.Socket): void {
    const { protocol } = this.#options.ctx.options;
    if (protocol === 'http1') this.#http1(socket);
    else if (protocol === 'tcp') handleTcpConnection(socket, this.#options.ctx);
    else if (protocol === 'h2c') this.#options.h2.accept(socket);
    else this.#sniff(socket);
  }

  #http1(socket: net.Socket): void {
    this.#options.http1(socket);
    // A socket we paused to put sniffed bytes back must flow again for the HTTP/1.1 side's 'data' listener.
    socket.resume();
  }

  #sniff(socket: net.Socket): void {
    const { ctx } = this.#options;
    this.#own.add(socket);
    let seen: Buffer = Buffer.alloc(0);
    const decide = (kind: SniffedProtocol) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      this.#own.delete(socket);
      socket.pause();
      if (seen.length > 0) socket.unshift(seen);
      if (kind === 'h2') this.#options.h2.accept(socket);
      else if (kind === 'http1') this.#http1(socket);
      else this.#splice(socket);
    };
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const kind = sniffProtocol(seen);
      if (kind !== undefined) decide(kind);
    };
    // A client that says nothing (or too little to tell) within the head timeout, or half-closes, may speak
    // a protocol where the server talks first: the app decides what to do with it.
    const onEnd = () => decide('other');
    const timer = setTimeout(() => decide(seen.length === 0 ? 'other' : (sniffProtocol(seen) ?? 'other')), ctx.options.headerTimeoutMs).unref();
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(timer);
      this.#own.delete(socket);
    });
  }

  /** Not HTTP: the connection becomes a byte pipe to the app, both ways, until either side closes. */
  #splice(socket: net.Socket): void {
    const { app } = this.#options.ctx.options;
    this.#options.ctx.logger.warn(
      { remote: socket.remoteAddress, app: `${app.host}:${app.port}` },
      'connection is neither HTTP/1.x nor HTTP/2; passing its bytes to the app untouched (not routed)',
    );
    this.#own.add(socket);
    socket.once('close', () => this.#own.delete(socket));
    spliceToTarget(socket, app, this.#options.ctx.logger);
  }
}
