import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import type { Logger } from '@detour/core';

/** The HTTP/2 connection preface a client with prior knowledge sends first (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface ListenerOptions {
  host: string;
  port: number;
  /** Connections that send nothing this long are closed; protects the sniffing step from slow clients. */
  firstByteTimeoutMs: number;
  /** Gets the connections that start with anything else (HTTP/1.x). */
  http1: net.Server;
  /** Gets the connections that start with the HTTP/2 preface. */
  http2: net.Server;
  /**
   * `--tls-cert`/`--tls-key`: every connection first completes a TLS handshake
   * (ALPN h2 or http/1.1), then is sniffed as on a plaintext port. `clientCa`
   * (`--client-ca`) asks clients for a certificate and verifies it against that
   * CA; whether one was needed is the HTTP/2 side's decision (agents), so the
   * handshake itself does not fail without one (daemons send none).
   */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  logger?: Logger;
}

export interface OnePort {
  readonly server: net.Server;
  /** Stops accepting and drops every connection taken so far (API, agents, tunnels). */
  close(): Promise<void>;
}

/**
 * One port, both protocols: looks at the first bytes of each connection and
 * hands it to the HTTP/2 server (agents) or the HTTP/1.1 one (CLI, daemons,
 * curl). Resolves once listening.
 */
export async function listenOnePort(options: ListenerOptions): Promise<OnePort> {
  const { http1, http2, firstByteTimeoutMs } = options;
  // The HTTP servers are fed sockets and never listen themselves, so node's own
  // connection tracking (http.Server#closeAllConnections) knows none of them:
  // an idle keep-alive client would hold close() open. The port keeps the list.
  const sockets = new Set<net.Socket>();
  const sniff = (socket: net.Socket) => {
    const timer = setTimeout(() => socket.destroy(), firstByteTimeoutMs);
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const probe = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, probe).equals(H2_PREFACE.subarray(0, probe));
      if (isH2 && seen.length < 3) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      socket.unshift(seen);
      (isH2 ? http2 : http1).emit('connection', socket);
      // The HTTP/1.1 server reads from the socket's stream, which we paused to put the sniffed bytes back; the HTTP/2 session drains them itself.
      if (!isH2) socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => clearTimeout(timer));
  };
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  // Nagle off on every accepted socket: relay and tunnel traffic is many small HTTP/2 frames.
  let listener: net.Server;
  if (options.tls === undefined) {
    listener = net.createServer({ noDelay: true }, (socket) => {
      track(socket);
      sniff(socket);
    });
  } else {
    const { cert, key, clientCa } = options.tls;
    const secure = tls.createServer({
      cert,
      key,
      ALPNProtocols: ['h2', 'http/1.1'],
      handshakeTimeout: firstByteTimeoutMs,
      noDelay: true,
      ...(clientCa === undefined ? {} : { requestCert: true, rejectUnauthorized: false, ca: clientCa }),
    });
    secure.on('connection', track);
    secure.on('secureConnection', (socket) => {
      // ALPN h2 is HTTP/2 without a doubt; anything else is sniffed as on a plaintext port.
      if (socket.alpnProtocol === 'h2') http2.emit('connection', socket);
      else sniff(socket);
    });
    secure.on('tlsClientError', (err, socket) => options.logger?.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed'));
    listener = secure;
  }
  listener.listen(options.port, options.host);
  await once(listener, 'listening');
  return {
    server: listener,
    close: async () => {
      const closed = once(listener, 'close');
      listener.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
