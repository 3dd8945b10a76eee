import type net from 'node:net';
import type { Logger, RequestHead } from '@detour/core';
import type { ErrorCode } from '@detour/protocol';
import type { Destination, TunnelPools } from './destinations.js';
import type { ManagerLink } from './manager-link.js';
import type { AgentMetrics } from './metrics.js';
import type { ResolvedAgentOptions } from './options.js';
import type { Route, Router } from './router.js';
import type { WiretapSender } from './wiretap.js';

/** What every connection of one agent shares. */
export interface AgentContext {
  readonly options: ResolvedAgentOptions;
  readonly logger: Logger;
  readonly router: Router;
  /** Where unmatched requests (and `fallback` ones) go. */
  readonly app: Destination;
  /** Where matched requests go: the developers' laptops. */
  readonly tunnels: TunnelPools;
  readonly link: ManagerLink;
  /** Coarse clock (ms), advanced by the agent's sweep timer: timeouts need no timer per request. */
  readonly clock: { now: number };
  /** Plain counters and latency recorders, read by prom-client only when scraped. */
  readonly metrics: AgentMetrics;
  /** Sends `--mode wiretap` copies to laptops. */
  readonly wiretaps: WiretapSender;
}

/** The client connection, as an exchange sees it. */
export interface ExchangeHost {
  readonly socket: net.Socket;
  readonly ctx: AgentContext;
  /** `performance.now()` at the current request's routing decision: its latency is measured from there, through a late refusal too. */
  readonly requestStartedAt: number;
  /** Stops reading the client (backpressure from the app or the relay). */
  pauseReading(): void;
  resumeReading(): void;
  /** The response is complete; `keepAlive` says whether the connection may carry the next request. */
  finish(keepAlive: boolean): void;
  /** Answers an error of the agent's own and closes the connection. Only before any response byte was written. */
  fail(status: number, code: ErrorCode, message: string, details?: Record<string, unknown>): void;
  /** Drops the connection at once: the response was cut off mid-way and cannot be completed. */
  abort(reason: Error): void;
  /**
   * Sends the request whose head is `buf[start, head.end)` where `route` says:
   * a fresh exchange to the app or a developer, or the offline answer. Also how
   * a relay refused late hands its request on (its offline policy applied).
   * `replayBody`: the request's whole body, read already (a fall-through replay).
   */
  follow(route: Route, head: RequestHead, buf: Buffer, start: number, replayBody?: Buffer): void;
  /** Feeds buffered client bytes to the current exchange again (after a protocol switch). */
  pump(): void;
}

/** One request/response on a client connection, routed to the app or through the manager. */
export interface Exchange {
  start(): void;
  /** Consumes request bytes from `buf[start, end)`; returns the index after the last consumed. */
  body(buf: Buffer, start: number, end: number): number;
  /** The client half-closed its side (FIN). */
  clientEnd(): void;
  /** The client can take more response bytes. */
  clientDrain(): void;
  /** The client went away: release everything. */
  abort(): void;
}
