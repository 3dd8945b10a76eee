import net from 'node:net';
import { once } from 'node:events';

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
  // Nagle off on every accepted socket: relay and tunnel traffic is many small HTTP/2 frames.
  const listener = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
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
  });
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
