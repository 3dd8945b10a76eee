import type http2 from 'node:http2';

/**
 * Flow-control windows for every HTTP/2 session detour opens or accepts. node's
 * 64 KiB defaults (RFC 9113 §6.9.2) would stall one large body on every window
 * update and let one stream starve the others on a shared session.
 */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
export const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;

/** Settings for relay, tunnel and gateway sessions: large stream windows, many concurrent streams. */
export const RELAY_HTTP2_SETTINGS: http2.Settings = Object.freeze({ initialWindowSize: STREAM_WINDOW_BYTES, maxConcurrentStreams: 1000 });

/** Raises a session's connection-level window once it is up (it can only be set after the preface). */
export function widenSessionWindow(session: http2.Http2Session): void {
  if (session.connecting) session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW_BYTES));
  else if (!session.destroyed) session.setLocalWindowSize(SESSION_WINDOW_BYTES);
}

/**
 * Field count a relay hop (manager, daemon, pools) accepts in one header list.
 * node's default of 128 would reset a stream the agent already admitted: the
 * agent bounds every head by its `maxHeaderBytes` (32 KiB by default, so at most
 * ~6,500 fields), and the hops behind it take what it passed on.
 */
export const MAX_HEADER_LIST_PAIRS = 16_384;
