import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { ClientHttp2Stream, ServerHttp2Stream } from 'node:http2';
import type { Logger } from '@detour/core';

/** An upstream to dial: `tls` set means re-encrypt, verifying the certificate for `servername` (undefined for an IP: no SNI, RFC 6066 §3). */
export interface SocketTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly servername: string | undefined; readonly ca: string | Buffer | undefined } | undefined;
}

/** A TCP (or TLS) connection to `target`, Nagle off: detour forwards small frames and heads that must not wait for an ACK. */
export function dialSocket(target: SocketTarget, options: { allowHalfOpen?: boolean; alpn?: string[] } = {}): net.Socket {
  const { host, port } = target;
  const allowHalfOpen = options.allowHalfOpen ?? false;
  if (target.tls === undefined) return net.connect({ host, port, noDelay: true, allowHalfOpen });
  const { servername, ca } = target.tls;
  // node's tls.connect passes allowHalfOpen to its TLSSocket; @types/node omits it from ConnectionOptions.
  const connectOptions: tls.ConnectionOptions & { allowHalfOpen: boolean } = { host, port, servername, ca, allowHalfOpen };
  if (options.alpn !== undefined) connectOptions.ALPNProtocols = options.alpn;
  return tls.connect(connectOptions).setNoDelay(true);
}

/**
 * Joins a client connection to a new connection to `target` byte for byte, both
 * ways, until either side closes: a clean FIN ends the other side once its
 * buffered bytes are out, an error or abrupt close drops both. The client is
 * resumed only now, so bytes it sent before (held while routing) all arrive.
 */
export function spliceToTarget(client: net.Socket, target: SocketTarget, logger: Logger): net.Socket {
  const upstream = dialSocket(target, { allowHalfOpen: true });
  upstream.on('error', (err) => {
    logger.warn({ err: err.message, app: `${target.host}:${target.port}` }, 'cannot reach the app for a spliced connection');
    upstream.destroy();
  });
  client.on('error', () => client.destroy());
  // After a clean FIN each side closes by itself once its buffered bytes are out;
  // an abrupt close is passed on as one.
  client.once('close', () => {
    if (!upstream.writableEnded) upstream.destroy();
  });
  upstream.once('close', () => {
    if (!client.writableEnded) client.destroy();
  });
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
  return upstream;
}

const { NGHTTP2_CONNECT_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/**
 * Joins a plain CONNECT stream and a TCP connection byte for byte, with
 * backpressure both ways (pipe). RFC 9113 §8.5: END_STREAM is the FIN of each
 * direction, a TCP error or abrupt close resets the stream (CONNECT_ERROR), and
 * a reset stream drops the connection.
 */
export function spliceStream(stream: ClientHttp2Stream | ServerHttp2Stream, socket: net.Socket): void {
  stream.pipe(socket);
  socket.pipe(stream);
  socket.on('error', () => socket.destroy());
  socket.once('close', (hadError) => {
    if (!stream.closed && (hadError || !stream.writableEnded)) stream.close(NGHTTP2_CONNECT_ERROR);
  });
  stream.once('close', () => {
    if (stream.rstCode !== undefined && stream.rstCode !== NGHTTP2_NO_ERROR) socket.destroy();
  });
}
