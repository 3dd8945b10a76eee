import type { Http2Session } from 'node:http2';

export interface KeepaliveOptions {
  intervalMs: number;
  /** A PING unanswered for this long means the peer or the path to it is gone, even if TCP has not noticed. */
  timeoutMs: number;
  /** Called once, when the timeout passes; the session is not touched otherwise. */
  onTimeout: () => void;
}

/**
 * HTTP/2 keepalive (grpc-js `transport.ts`): a PING (RFC 9113 §6.7) every
 * interval and a timeout for each, so a partition or a frozen peer is noticed
 * in seconds rather than when TCP gives up: at most intervalMs + timeoutMs
 * after the last answer.
 *
 * Only a ping that went out and stayed unanswered counts. A loop that was busy
 * (a long task, a GC pause, a loaded machine) fires its timers late and in the
 * timers phase, before the poll phase has read what arrived meanwhile, so the
 * verdict waits for setImmediate (after the poll phase): an answer sitting in
 * the socket is read first. A stall with no ping out sends one, and counts for
 * nothing. Stops by itself when the session closes; the returned function stops it earlier.
 */
export function startKeepalive(session: Http2Session, options: KeepaliveOptions): () => void {
  /** When each unanswered ping was sent, oldest first; an answer also answers every ping sent before it. */
  const unanswered: number[] = [];
  const deadlines = new Set<NodeJS.Timeout>();
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearInterval(timer);
    for (const deadline of deadlines) clearTimeout(deadline);
    deadlines.clear();
  };
  const expired = () => !stopped && unanswered.length > 0 && Date.now() - unanswered[0]! >= options.timeoutMs;
  const judge = (deadline: NodeJS.Timeout) => {
    deadlines.delete(deadline);
    if (!expired()) return;
    setImmediate(() => {
      if (!expired()) return;
      stop();
      options.onTimeout();
    });
  };
  const timer = setInterval(() => {
    if (session.destroyed) {
      stop();
      return;
    }
    const sentAt = Date.now();
    unanswered.push(sentAt);
    session.ping((err) => {
      if (err !== null) return;
      while (unanswered.length > 0 && unanswered[0]! <= sentAt) unanswered.shift();
    });
    const deadline: NodeJS.Timeout = setTimeout(() => judge(deadline), options.timeoutMs).unref();
    deadlines.add(deadline);
  }, options.intervalMs);
  timer.unref();
  session.once('close', stop);
  return stop;
}
