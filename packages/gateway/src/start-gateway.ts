import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { pipeline } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { PreviewRoute } from '@detour/protocol';
import { errorBody, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { ManagerEndpoint } from '@detour/transport';
import { BannerInjector } from './banner-injector.js';
import { requestHeaders, responseHeaders } from './forward-headers.js';
import type { HeaderList } from './forward-headers.js';
import { PAGES, bannerHtml } from './pages.js';
import { clearedPreviewCookie, previewCookie, readPreviewAsk } from './preview-id.js';
import { createPreviewLookup } from './preview-lookup.js';
import type { PreviewLookup } from './preview-lookup.js';

export const GATEWAY_DEFAULTS = {
  host: '127.0.0.1',
  /** The agent's limits (packages/agent/src/options.ts), so that the gateway answers malformed input as the agent does. */
  maxHeaderBytes: 32 * 1024,
  headerTimeoutMs: 10_000,
  /** How often an upgraded connection (a WebSocket) checks that its preview still exists; a revoked one is closed. */
  upgradedCheckMs: 5_000,
  /** How long an idle kept-alive visitor connection stays open (RFC 9112 §9.3). */
  keepAliveTimeoutMs: 65_000,
} as const;

export interface GatewayOptions {
  host?: string;
  port: number;
  /** Previews are `<id>.<domain>`; e.g. `preview.example.test`, locally `preview.localhost`. */
  domain: string;
  /** A function when the manager serves the gateway itself and starts listening after it (see LookupOptions). */
  /** The manager (transport's `managerEndpoint`); a function when the gateway runs in the manager's process and listens first. */
  manager: ManagerEndpoint | (() => ManagerEndpoint | undefined);
  token: string;
  /** Add the "you are viewing …'s preview" bar to HTML answers. Off by default. */
  banner?: boolean;
  logger: Logger;
  lookupCacheMs?: number;
  lookupTimeoutMs?: number;
}

export interface GatewayHandle {
  url: string;
  address: AddressInfo;
  /** Stops accepting, lets requests under way end; idempotent. */
  close(): Promise<void>;
}

/** A visitor's request resolved to a preview, or the page to answer instead. */
type Resolution =
  | { kind: 'forward'; id: string; route: PreviewRoute }
  | { kind: 'answer'; status: number; headers: HeaderList; body: string };

const HTML = 'text/html; charset=utf-8';

function htmlAnswer(status: number, body: string, extra: HeaderList = []): Resolution {
  return { kind: 'answer', status, headers: [['content-type', HTML], ['cache-control', 'no-store'], ...extra], body };
}

/**
 * The preview gateway: reads which preview a visitor's request is for, asks
 * the manager where it goes (cached briefly), and forwards it to the entry with
 * the intercept's header added, streaming both ways, WebSocket and SSE included.
 */
export async function startGateway(options: GatewayOptions): Promise<GatewayHandle> {
  const { logger, domain } = options;
  const { lookup, close: closeLookup } = createPreviewLookup({
    manager: options.manager,
    token: options.token,
    ...(options.lookupCacheMs === undefined ? {} : { cacheMs: options.lookupCacheMs }),
    ...(options.lookupTimeoutMs === undefined ? {} : { timeoutMs: options.lookupTimeoutMs }),
  });
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const upstreamTlsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

  const resolve = (req: http.IncomingMessage): Promise<Resolution> => resolveRequest(req, domain, lookup, logger);

  const server = http.createServer(
    {
      maxHeaderSize: GATEWAY_DEFAULTS.maxHeaderBytes,
      headersTimeout: GATEWAY_DEFAULTS.headerTimeoutMs,
      // Node checks headersTimeout at this interval (30 s by default), which would let a slow head wait 40 s for its 408.
      connectionsCheckingInterval: 1_000,
      // Uploads and downloads are streamed and may take as long as they take.
      requestTimeout: 0,
      keepAliveTimeout: GATEWAY_DEFAULTS.keepAliveTimeoutMs,
      // A head and a body written apart must not wait for the peer's delayed ACK (Nagle, RFC 896): about 40 ms a request.
      noDelay: true,
    },
    (req, res) => {
      if (repeatedHost(req.rawHeaders)) {
        res.socket?.end(malformedAnswer(400, 'DETOUR_ERR_AGENT_BAD_REQUEST', REPEATED_HOST));
        return;
      }
      void resolve(req).then((resolution) => {
        // A visitor gone during the lookup: its 'close' has fired, so nothing would end a request to the entry.
        if (req.socket.destroyed) return;
        if (resolution.kind === 'answer') return answer(res, resolution);
        forward(req, res, resolution.route, { banner: options.banner === true, agents: { http: upstreamAgent, https: upstreamTlsAgent }, logger });
      });
    },
  );
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (repeatedHost(req.rawHeaders)) {
      socket.end(malformedAnswer(400, 'DETOUR_ERR_AGENT_BAD_REQUEST', REPEATED_HOST));
      return;
    }
    void resolve(req).then((resolution) => {
      if (socket.destroyed) return;
      if (resolution.kind === 'answer') return answerOnSocket(socket, resolution);
      const spliced = upgrade(req, socket, head, resolution.route, logger);
      watchRevocation(resolution.id, spliced, lookup, logger);
    });
  });
  // What the agent answers to malformed input (docs/architecture.md, "Malformed and hostile input"): JSON, then close.
  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket) => {
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage !== undefined) {
      socket.destroy();
      return;
    }
    const [status, code, message] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? ([431, 'DETOUR_ERR_AGENT_HEAD_TOO_LARGE', `request head exceeds ${GATEWAY_DEFAULTS.maxHeaderBytes} bytes`] as const)
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? ([408, 'DETOUR_ERR_AGENT_HEAD_TIMEOUT', `request head not received within ${GATEWAY_DEFAULTS.headerTimeoutMs} ms`] as const)
          : ([400, 'DETOUR_ERR_AGENT_BAD_REQUEST', `malformed request: ${err.reason ?? err.message}`] as const);
    socket.end(malformedAnswer(status, code, message));
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port, options.host ?? GATEWAY_DEFAULTS.host, () => ok());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info({ listen: `${host}:${address.port}`, domain, banner: options.banner === true }, 'preview gateway listening');
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    address,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((ok) => server.close(() => ok()));
        server.closeIdleConnections();
        await closed;
        upstreamAgent.destroy();
        upstreamTlsAgent.destroy();
        await closeLookup();
      })()),
  };
}

const REPEATED_HOST = 'malformed request: repeated Host';

/**
 * RFC 9112 §3.2: more than one Host line is a 400, as the agent answers it. node:http
 * keeps the first and drops the rest, so the gateway and whatever reads the
 * request after it could disagree about which preview it is for.
 */
function repeatedHost(rawHeaders: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 4 && rawHeaders[i]!.toLowerCase() === 'host') {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

/** What the agent answers to malformed input (docs/architecture.md, "Malformed and hostile input"): JSON, then close. */
function malformedAnswer(status: number, code: Parameters<typeof errorBody>[0], message: string): string {
  const body = JSON.stringify(errorBody(code, message));
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

async function resolveRequest(req: http.IncomingMessage, domain: string, lookup: PreviewLookup, logger: Logger): Promise<Resolution> {
  const secure = req.headers['x-forwarded-proto'] === 'https';
  const ask = readPreviewAsk(req.url ?? '/', req.headers.host, req.headers.cookie, domain);
  if (ask.kind === 'exit') return htmlAnswer(200, PAGES.exited, [['set-cookie', clearedPreviewCookie(secure)]]);
  if (ask.kind === 'none') return htmlAnswer(404, PAGES.none);
  let route: PreviewRoute | undefined;
  try {
    route = await lookup(ask.id);
  } catch (err) {
    logger.warn({ err: isDetourError(err) ? err.message : String(err) }, 'preview lookup failed');
    return htmlAnswer(503, PAGES.managerDown, [['retry-after', '5']]);
  }
  if (route === undefined) {
    // A cookie naming a dead preview is cleared, so the next visit sees the plain gateway page.
    return htmlAnswer(404, PAGES.unknown, ask.kind === 'preview' && ask.via === 'host' ? [] : [['set-cookie', clearedPreviewCookie(secure)]]);
  }
  if (ask.kind === 'share') {
    return { kind: 'answer', status: 302, headers: [['location', ask.location], ['set-cookie', previewCookie(ask.id, secure)], ['cache-control', 'no-store'], ['content-length', '0']], body: '' };
  }
  return { kind: 'forward', id: ask.id, route };
}

function answer(res: http.ServerResponse, resolution: Extract<Resolution, { kind: 'answer' }>): void {
  const body = Buffer.from(resolution.body);
  const headers = resolution.headers.some(([n]) => n === 'content-length') ? resolution.headers : [...resolution.headers, ['content-length', String(body.length)] as [string, string]];
  res.writeHead(resolution.status, headers.flat());
  res.end(body);
}

function answerOnSocket(socket: Duplex, resolution: Extract<Resolution, { kind: 'answer' }>): void {
  const body = Buffer.from(resolution.body);
  const lines = resolution.headers.filter(([n]) => n !== 'content-length').map(([n, v]) => `${n}: ${v}\r\n`).join('');
  socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${resolution.status} ${STATUS_CODES[resolution.status] ?? ''}\r\n${lines}content-length: ${body.length}\r\nconnection: close\r\n\r\n`), body]));
}

interface ForwardOptions {
  banner: boolean;
  agents: { http: http.Agent; https: https.Agent };
  logger: Logger;
}

function visitor(req: http.IncomingMessage): { host: string; proto: 'http' | 'https'; origin: string } {
  const host = req.headers.host ?? 'localhost';
  const proto = req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
  return { host, proto, origin: `${proto}://${host}` };
}

/** A route's entry URL, parsed once per route answer (the lookup cache hands out the same object) rather than once a request. */
interface Entry {
  url: URL;
  host: string;
  origin: string;
  client: typeof http | typeof https;
  hostname: string;
  port: number | undefined;
}
const entries = new WeakMap<PreviewRoute, Entry>();

function entryOf(route: PreviewRoute): Entry {
  let entry = entries.get(route);
  if (entry === undefined) {
    const url = new URL(route.entryUrl);
    entry = { url, host: url.host, origin: url.origin, client: url.protocol === 'https:' ? https : http, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? undefined : Number(url.port) };
    entries.set(route, entry);
  }
  return entry;
}

function upstreamRequest(req: http.IncomingMessage, entry: Entry, headers: HeaderList, agent: http.Agent | false, agents: ForwardOptions['agents']): http.ClientRequest {
  const request = entry.client.request({
    host: entry.hostname,
    port: entry.port,
    method: req.method,
    path: req.url,
    // An array of pairs keeps each field as the visitor sent it (order, repeats, case).
    headers: headers.flat(),
    agent: agent === false ? false : entry.client === https ? agents.https : agents.http,
    setHost: false,
  });
  // As on the visitor's side: no Nagle delay on the connection to the entry.
  request.on('socket', (socket) => socket.setNoDelay(true));
  return request;
}

/** Whether a request head announces a body (RFC 9112 §6.3): without one the request to the entry is ended at once, no stream joined. */
function hasBody(req: http.IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/**
 * One request to the entry and its answer back, both bodies streamed. Bodies are
 * joined with `pipe` and explicit error handling rather than `stream.pipeline`,
 * which costs an AbortController and several listeners a request (see
 * docs/performance.md, "Preview gateway").
 */
function forward(req: http.IncomingMessage, res: http.ServerResponse, route: PreviewRoute, options: ForwardOptions): void {
  const seen = visitor(req);
  const entry = entryOf(route);
  const wantsHtml = options.banner && /text\/html/i.test(req.headers.accept ?? '');
  const headers = requestHeaders(req.rawHeaders, entry.host, { route, visitorHost: seen.host, visitorProto: seen.proto, clientAddress: req.socket.remoteAddress, identityEncoding: wantsHtml });
  const upstream = upstreamRequest(req, entry, headers, options.agents.http, options.agents);
  upstream.on('response', (answerIn) => {
    const type = options.banner ? String(answerIn.headers['content-type'] ?? '') : '';
    const encoded = answerIn.headers['content-encoding'] !== undefined && answerIn.headers['content-encoding'] !== 'identity';
    const inject = options.banner && /^text\/html/i.test(type) && !encoded && req.method !== 'HEAD' && answerIn.statusCode !== 204 && answerIn.statusCode !== 304;
    res.writeHead(answerIn.statusCode ?? 502, answerIn.statusMessage, responseHeaders(answerIn.rawHeaders, entry.origin, seen.origin, inject).flat());
    // An answer of unknown length (SSE, long polls) may wait for its first chunk: its head goes out now. Chunks go out as they come.
    if (answerIn.headers['content-length'] === undefined || inject) res.flushHeaders();
    if (inject) {
      pipeline(answerIn, new BannerInjector(bannerHtml(route.owner, route.service)), res, (err) => {
        if (err !== null && err !== undefined) options.logger.debug({ err: err.message }, 'preview answer stream ended early');
      });
      return;
    }
    // The entry's connection failing mid-answer must not look like a complete answer: the visitor's is cut too.
    answerIn.on('error', (err) => {
      options.logger.debug({ err: err.message }, 'preview answer stream ended early');
      res.destroy();
    });
    answerIn.pipe(res);
  });
  upstream.on('error', (err) => {
    options.logger.debug({ err: err.message, entry: route.entryUrl }, 'entry request failed');
    if (!res.headersSent) {
      const body = Buffer.from(PAGES.entryDown);
      res.writeHead(502, { 'content-type': HTML, 'content-length': body.length, 'cache-control': 'no-store' }).end(body);
    } else res.destroy();
  });
  // The visitor going away ends the request to the entry too.
  res.on('close', () => {
    if (!res.writableFinished) upstream.destroy();
  });
  if (!hasBody(req)) {
    upstream.end();
    return;
  }
  req.on('error', () => upstream.destroy());
  req.pipe(upstream);
}

/**
 * A request is checked when it arrives; a WebSocket lives on after that. Its preview is
 * asked about again every `upgradedCheckMs` (through the same cache), and the connection
 * closed once the preview is revoked or expired, so `preview remove` ends it too. A manager
 * that is down does not close it: the preview may well still exist.
 */
function watchRevocation(id: string, socket: Duplex, lookup: PreviewLookup, logger: Logger): void {
  if (socket.destroyed) return;
  const timer = setInterval(() => {
    lookup(id).then(
      (route) => {
        if (route !== undefined) return;
        logger.info({ preview: id.slice(0, 6) }, 'upgraded connection closed: its preview was revoked or expired');
        socket.destroy();
      },
      () => undefined,
    );
  }, GATEWAY_DEFAULTS.upgradedCheckMs);
  timer.unref();
  socket.once('close', () => clearInterval(timer));
}

/** A WebSocket (or any Upgrade) handshake to the entry; after `101`, bytes are spliced both ways. Returns the visitor's socket. */
function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, route: PreviewRoute, logger: Logger): Duplex {
  const seen = visitor(req);
  const entry = entryOf(route);
  const headers = requestHeaders(req.rawHeaders, entry.host, { route, visitorHost: seen.host, visitorProto: seen.proto, clientAddress: req.socket.remoteAddress, identityEncoding: false });
  headers.push(['connection', 'Upgrade'], ['upgrade', req.headers.upgrade ?? 'websocket']);
  const upstream = upstreamRequest(req, entry, headers, false, { http: http.globalAgent, https: https.globalAgent });
  // A visitor that leaves before the entry answered (or an entry that never does) ends the handshake.
  socket.once('close', () => upstream.destroy());
  upstream.on('upgrade', (answerIn, upstreamSocket, upstreamHead) => {
    const lines = [`HTTP/1.1 ${answerIn.statusCode ?? 101} ${answerIn.statusMessage ?? 'Switching Protocols'}`];
    for (let i = 0; i < answerIn.rawHeaders.length; i += 2) lines.push(`${answerIn.rawHeaders[i]}: ${answerIn.rawHeaders[i + 1]}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    upstreamSocket.on('error', () => socket.destroy());
    socket.on('error', () => upstreamSocket.destroy());
    upstreamSocket.pipe(socket);
    socket.pipe(upstreamSocket);
    upstreamSocket.on('close', () => socket.destroy());
    socket.on('close', () => upstreamSocket.destroy());
  });
  // The entry refused the upgrade: its answer goes back as it is, then the connection closes.
  upstream.on('response', (answerIn) => {
    const lines = [`HTTP/1.1 ${answerIn.statusCode ?? 502} ${answerIn.statusMessage ?? ''}`];
    for (const [name, value] of responseHeaders(answerIn.rawHeaders, entry.origin, seen.origin, true)) lines.push(`${name}: ${value}`);
    socket.write(`${lines.join('\r\n')}\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n`);
    answerIn.on('data', (chunk: Buffer) => socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`, 'latin1'));
    answerIn.on('end', () => socket.end('0\r\n\r\n'));
    // An entry that drops mid-answer must not leave the visitor waiting for the last chunk.
    answerIn.on('error', () => socket.destroy());
    socket.once('close', () => answerIn.destroy());
  });
  upstream.on('error', (err) => {
    logger.debug({ err: err.message, entry: route.entryUrl }, 'entry upgrade failed');
    answerOnSocket(socket, htmlAnswer(502, PAGES.entryDown) as Extract<Resolution, { kind: 'answer' }>);
  });
  upstream.end();
  return socket;
}
