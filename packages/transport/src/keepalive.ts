import type { Http2Session } from 'node:http2';

export interface KeepaliveOptions {
  intervalMs: number;
  /** No PING answered for this long means the peer or the path to it is gone, even if TCP has not noticed. */
  timeoutMs: number;
  /** Called once, when the timeout passes; the session is not touched otherwise. */
  onTimeout: () => void;
}

/**
 * HTTP/2 keepalive (grpc-js `transport.ts`): a PING (RFC 9113 §6.7) every
 * interval, and a timeout counted from the last answered one, so a partition or
 * a frozen peer is noticed in seconds rather than when TCP gives up. Stops by
 * itself when the session closes; the returned function stops it earlier.
 */
export function startKeepalive(session: Http2Session, options: KeepaliveOptions): () => void {
  let lastPongAt = Date.now();
  const stop = () => clearInterval(timer);
  const timer = setInterval(() => {
    if (session.destroyed) {
      stop();
      return;
    }
    if (Date.now() - lastPongAt > options.timeoutMs) {
      stop();
      options.onTimeout();
      return;
    }
    session.ping((err) => {
      if (err === null) lastPongAt = Date.now();
    });
  }, options.intervalMs);
  timer.unref();
  session.once('close', stop);
  return stop;
}
