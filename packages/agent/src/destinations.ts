import net from 'node:net';
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { DetourError, errorFromBody } from '@detour/core';
import { ErrorBodySchema, RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE } from '@detour/protocol';
import type { ErrorCode, Intercept } from '@detour/protocol';
import { dialSocket } from '@detour/transport';
import type { ManagerLink } from './manager-link.js';
import type { ResolvedAgentOptions } from './options.js';
import { ReadBuffer, UpstreamConnection, UpstreamPool } from './upstream-pool.js';
import type { Refusal } from './upstream-pool.js';

/** Where an HTTP/1.1 exchange is forwarded: a pool of connections, and how to name it in errors. */
export interface Destination {
  readonly pool: UpstreamPool;
  /** "the app at 127.0.0.1:8080", "the local app of alice". */
  readonly name: string;
  /** The error code when it cannot be reached or read. */
  readonly unreachable: ErrorCode;
  /** Set for a developer's laptop: its offline policy applies when the developer is gone. */
  readonly intercept: Intercept | undefined;
}

/** The service's own app: keep-alive TCP (or TLS, re-encrypting) connections. */
export function appDestination(options: ResolvedAgentOptions): Destination {
  const { host, port, tls: secure } = options.app;
  const pool = new UpstreamPool({
    maxIdle: options.maxIdleUpstreamSockets,
    idleTimeoutMs: options.upstreamIdleTimeoutMs,
    dial(owner) {
      if (secure !== undefined) {
        const socket = dialSocket(options.app, { alpn: ['http/1.1'] });
        const conn = new UpstreamConnection(socket, owner);
        conn.opened();
        return conn;
      }
      // Every response of unmatched traffic is read here: read into a reused
      // buffer (onread) rather than a fresh one per read, pushed through a stream.
      const reads = new ReadBuffer();
      const socket = net.connect({
        host,
        port,
        noDelay: true,
        onread: {
          buffer: reads.next,
          // Backpressure pauses the socket explicitly (the exchange), so reading goes on here.
          callback: (bytes: number, buf: Uint8Array) => {
            if (conn.deliver((buf as Buffer).subarray(0, bytes))) reads.hold();
            return true;
          },
        },
      });
      const conn = new UpstreamConnection(socket, owner);
      // Writes before the TCP handshake completes are queued by the socket.
      conn.opened();
      return conn;
    },
  });
  return { pool, name: `the app at ${host}:${port}`, unreachable: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE', intercept: undefined };
}

/** A refusal's JSON error body is a few hundred bytes; anything longer is not ours. */
const MAX_REFUSAL_BYTES = 16 * 1024;

/**
 * Connections to the laptops of a service's developers, one pool per intercept.
 * Each connection is a plain CONNECT stream (RFC 9113 §8.5) on the agent's
 * HTTP/2 session to the manager, which joins it to a stream on the developer's
 * tunnel, where the daemon joins it to a TCP connection to the local app. The
 * stream then carries the caller's HTTP/1.1 bytes exactly as a connection to
 * the app would, and stays open for the next request: the manager and the
 * daemon forward DATA frames only, with no per-request HEADERS, parsing or
 * stream set-up, and trailers, `100 Continue` and upgrades pass through as
 * bytes.
 */
export class TunnelPools {
  readonly #link: ManagerLink;
  readonly #options: ResolvedAgentOptions;
  readonly #pools = new Map<string, Destination>();

  constructor(link: ManagerLink, options: ResolvedAgentOptions) {
    this.#link = link;
    this.#options = options;
  }

  /** The destination of `intercept`, created on first use. */
  destination(intercept: Intercept): Destination {
    let destination = this.#pools.get(intercept.id);
    if (destination === undefined || destination.intercept !== intercept) {
      // A new rule set brings new Intercept objects: the policy of the latest one applies.
      const pool = destination?.pool ?? this.#pool(intercept.id);
      destination = { pool, name: `the local app of ${intercept.owner.name}`, unreachable: 'DETOUR_ERR_LOCAL_APP_UNREACHABLE', intercept };
      this.#pools.set(intercept.id, destination);
    }
    return destination;
  }

  /** Drops the pools of intercepts that are gone or offline; their idle tunnels are retired, busy ones when their exchange ends. */
  retain(intercepts: readonly Intercept[]): void {
    const live = new Set(intercepts.filter((i) => i.online).map((i) => i.id));
    for (const [id, destination] of this.#pools) {
      if (live.has(id)) continue;
      this.#pools.delete(id);
      destination.pool.close();
    }
  }

  sweep(now: number): void {
    for (const destination of this.#pools.values()) destination.pool.sweep(now);
  }

  close(): void {
    for (const destination of this.#pools.values()) destination.pool.close();
    this.#pools.clear();
  }

  destroy(): void {
    for (const destination of this.#pools.values()) destination.pool.destroy();
    this.#pools.clear();
  }

  #pool(interceptId: string): UpstreamPool {
    const { service, app } = this.#options;
    return new UpstreamPool({
      maxIdle: this.#options.maxIdleUpstreamSockets,
      idleTimeoutMs: this.#options.upstreamIdleTimeoutMs,
      dial: (owner) => {
        const stream = this.#link.request({ ':method': 'CONNECT', ':authority': `${service}:${app.port}`, [RELAY_HEADER_INTERCEPT_ID]: interceptId }, { endStream: false });
        if (stream === undefined) return undefined;
        const conn = new UpstreamConnection(stream, owner, true);
        awaitAcceptance(stream, conn);
        return conn;
      },
    });
  }
}

/** The refusal of a tunnel that could not be opened or died before it opened: the link to the manager is down. */
export const LINK_DOWN: Refusal = { offline: true, error: new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', 'the link to the manager is down') };

/**
 * `:status 200` opens the tunnel. Anything else is a refusal with a detour
 * error body: `detour-offline` from the manager or the daemon when the
 * developer is gone, otherwise e.g. their local app is not listening.
 */
function awaitAcceptance(stream: ClientHttp2Stream, conn: UpstreamConnection): void {
  let refusal: { status: number; offline: boolean; body: Buffer[]; bytes: number } | undefined;
  stream.on('error', () => undefined); // 'close' follows and decides
  stream.once('response', (headers: IncomingHttpHeaders) => {
    const status = Number(headers[':status']);
    if (status === 200) {
      conn.opened();
      return;
    }
    refusal = { status, offline: headers[RELAY_HEADER_OFFLINE] !== undefined, body: [], bytes: 0 };
    stream.on('data', (chunk: Buffer) => {
      if (refusal === undefined || refusal.bytes > MAX_REFUSAL_BYTES) return;
      refusal.body.push(chunk);
      refusal.bytes += chunk.length;
    });
    // Not 'close': our side of the stream is still open, and the refuser need not reset it.
    stream.once('end', () => conn.refused(describeRefusal(refusal!)));
  });
  // A stream that dies unanswered (the link or the developer's tunnel went down), or mid-refusal.
  stream.once('close', () => {
    if (!stream.readableEnded) conn.refused(refusal === undefined ? LINK_DOWN : describeRefusal(refusal));
  });
}

function describeRefusal({ status, offline, body }: { status: number; offline: boolean; body: Buffer[] }): Refusal {
  let parsed: ReturnType<typeof ErrorBodySchema.safeParse> | undefined;
  try {
    parsed = ErrorBodySchema.safeParse(JSON.parse(Buffer.concat(body).toString('utf8')));
  } catch {
    parsed = undefined;
  }
  if (parsed?.success === true) return { offline, error: errorFromBody(parsed.data) };
  const code: ErrorCode = offline ? 'DETOUR_ERR_TUNNEL_OFFLINE' : 'DETOUR_ERR_LOCAL_APP_UNREACHABLE';
  return { offline, error: new DetourError(code, `the developer's side answered ${status}`) };
}
