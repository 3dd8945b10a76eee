import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from '@detour/core';
import { MAX_HEADER_LIST_PAIRS, RELAY_HTTP2_SETTINGS, startKeepalive, widenSessionWindow } from '@detour/transport';

export interface TunnelOptions {
  pingIntervalMs: number;
  /** A ping unanswered this long means the tunnel is dead, well before the lease runs out. */
  pingTimeoutMs: number;
  logger: Logger;
  onDown: (sessionId: string) => void;
}

/**
 * The developers' tunnels. A daemon dials out and upgrades an HTTP/1.1 request
 * (RFC 9110 §7.8); on the upgraded socket the roles turn around: the manager
 * is the HTTP/2 client and opens one stream per relayed request, the daemon
 * serves them. So the laptop is never dialed, yet no framing of our own exists.
 */
export class Tunnels {
  readonly #options: TunnelOptions;
  readonly #sessions = new Map<string, http2.ClientHttp2Session>();

  constructor(options: TunnelOptions) {
    this.#options = options;
  }

  get(sessionId: string): http2.ClientHttp2Session | undefined {
    return this.#sessions.get(sessionId);
  }

  /** Takes over an upgraded socket as the session's tunnel, replacing an older one. */
  attach(sessionId: string, socket: Socket): void {
    this.#sessions.get(sessionId)?.destroy();
    const { logger, pingIntervalMs, pingTimeoutMs } = this.#options;
    const session = http2.connect('http://detour-tunnel', {
      createConnection: () => socket,
      settings: RELAY_HTTP2_SETTINGS,
      maxHeaderListPairs: MAX_HEADER_LIST_PAIRS,
    });
    widenSessionWindow(session);
    session.on('error', (err) => logger.warn({ sessionId, err: err.message }, 'tunnel error'));
    startKeepalive(session, {
      intervalMs: pingIntervalMs,
      timeoutMs: pingTimeoutMs,
      onTimeout: () => {
        logger.warn({ sessionId, pingTimeoutMs }, 'tunnel ping timed out; closing it');
        session.destroy();
      },
    });
    session.once('close', () => {
      if (this.#sessions.get(sessionId) === session) {
        this.#sessions.delete(sessionId);
        logger.info({ sessionId }, 'tunnel down');
        this.#options.onDown(sessionId);
      }
    });
    this.#sessions.set(sessionId, session);
    logger.info({ sessionId }, 'tunnel up');
  }

  /** Closes a session's tunnel, e.g. when its lease expired. */
  drop(sessionId: string): void {
    const session = this.#sessions.get(sessionId);
    this.#sessions.delete(sessionId);
    session?.destroy();
  }

  destroyAll(): void {
    for (const session of this.#sessions.values()) session.destroy();
    this.#sessions.clear();
  }
}
