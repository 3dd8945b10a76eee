import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { ClientHttp2Stream } from 'node:http2';
import { DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { spliceStream } from '@detour/transport';
import { parseGreeting, parseRequest, plausibleHost, reply, replyFor, SOCKS_REPLY, SOCKS_VERSION } from './socks5.js';

/** Opens a byte stream to a destination inside the environment, through the manager. */
export type EgressDial = (host: string, port: number) => Promise<ClientHttp2Stream>;

export interface OutboundProxyOptions {
  host: string;
  port: number;
  dial: EgressDial;
  logger: Logger;
}

/** Clients that connect and send nothing are dropped after this long (protects the sniffing step). */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

/** Hop-by-hop fields (RFC 9110 §7.6.1) and the proxy's own: never forwarded by a proxy. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * The daemon's local proxy for laptop processes (`detour run`): one port on
 * 127.0.0.1 that speaks HTTP (CONNECT, and absolute-form requests, RFC 9112 §3.2.2)
 * and SOCKS5 (RFC 1928, no authentication), told apart by the first byte. Each
 * connection becomes one CONNECT stream to the manager, which dials the
 * destination from inside the environment or refuses it; a refusal is shown as
 * the client's protocol can: 403 with a JSON body, or a SOCKS reply code.
 */
export class OutboundProxy {
  readonly address: { host: string; port: number };
  /** The last failure of a call through the proxy, for `detour status`. */
  lastError: { at: number; message: string } | undefined;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #options: OutboundProxyOptions;

  private constructor(server: net.Server, options: OutboundProxyOptions) {
    this.#server = server;
    this.#options = options;
    const bound = server.address() as net.AddressInfo;
    this.address = { host: bound.address, port: bound.port };
  }

  static async start(options: OutboundProxyOptions): Promise<OutboundProxy> {
    // Nothing connects before `listening`, and the proxy needs the bound address: it is built in between.
    const accepted: net.Socket[] = [];
    const server = net.createServer({ noDelay: true }, (socket) => accepted.push(socket));
    server.listen(options.port, options.host);
    await once(server, 'listening');
    const proxy = new OutboundProxy(server, options);
    server.removeAllListeners('connection');
    server.on('connection', (socket: net.Socket) => proxy.accept(socket));
    for (const socket of accepted) proxy.accept(socket);
    return proxy;
  }

  /** The URL clients are given (`HTTP_PROXY`). */
  get url(): string {
    return `http://${this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host}:${this.address.port}`;
  }

  async close(): Promise<void> {
    const closed = once(this.#server, 'close');
    this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** @internal handed every accepted connection. */
  accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_TIMEOUT_MS);
    socket.once('close', () => clearTimeout(timer));
    socket.once('data', (first: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      if (first[0] === SOCKS_VERSION) {
        this.#socks(socket, first);
        return;
      }
      socket.unshift(first);
      this.#http.emit('connection', socket);
      socket.resume();
    });
  }

  #failed(err: unknown, what: string): DetourError {
    const error = isDetourError(err) ? err : new DetourError('DETOUR_ERR_EGRESS_OFFLINE', `${what}: ${(err as Error).message}`, { cause: err });
    this.lastError = { at: Date.now(), message: `${what}: ${error.message}` };
    this.#options.logger.info({ what, code: error.code, err: error.message }, 'outbound call failed');
    return error;
  }

  readonly #http: http.Server = (() => {
    const server = http.createServer((req, res) => void this.#forwardRequest(req, res));
    server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.#connect(req, socket, head));
    server.on('clientError', (_err, socket: net.Socket) => socket.destroy());
    return server;
  })();

  /** `CONNECT host:port` (RFC 9110 §9.3.6): a tunnel, e.g. for HTTPS through HTTPS_PROXY. */
  async #connect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const target = parseHostPort(req.url ?? '', undefined);
    if (target === undefined) {
      writeRawError(socket, new DetourError('DETOUR_ERR_API_BAD_REQUEST', `CONNECT needs host:port, got ${JSON.stringify(req.url)}`));
      return;
    }
    let stream: ClientHttp2Stream;
    try {
      stream = await this.#options.dial(target.host, target.port);
    } catch (err) {
      writeRawError(socket, this.#failed(err, `CONNECT ${target.host}:${target.port}`));
      return;
    }
    if (socket.destroyed) {
      stream.close();
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) stream.write(head);
    spliceStream(stream, socket);
  }

  /** An absolute-form request (`GET http://quote/price`): forwarded on a stream of its own, then the stream closes. */
  async #forwardRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error(url.protocol);
    } catch {
      sendJson(res, new DetourError('DETOUR_ERR_API_BAD_REQUEST', `this is detour's outbound proxy: send absolute http:// URLs, or CONNECT host:port for anything else (got ${JSON.stringify(req.url)})`));
      return;
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === '' ? 80 : Number(url.port);
    let stream: ClientHttp2Stream;
    try {
      stream = await this.#options.dial(host, port);
    } catch (err) {
      sendJson(res, this.#failed(err, `${req.method} ${url.origin}`));
      return;
    }
    // The client may have gone during the dial; its 'close' has fired already, so nothing below would end the stream.
    if (req.socket.destroyed) {
      stream.close();
      return;
    }
    const headers = forwardable(req.rawHeaders);
    headers.push('connection', 'close');
    const upstream = http.request({ method: req.method, path: `${url.pathname}${url.search}`, headers, createConnection: () => stream as unknown as net.Socket, setHost: false });
    upstream.once('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardable(answer.rawHeaders));
      // A stream reset mid-answer must end the client's response too, not leave it waiting for the rest.
      answer.once('error', () => res.destroy());
      answer.pipe(res);
    });
    upstream.once('error', (err) => {
      const error = this.#failed(err, `${req.method} ${url.origin}`);
      if (!res.headersSent) sendJson(res, new DetourError('DETOUR_ERR_EGRESS_UNREACHABLE', `${url.host} closed the connection before answering: ${error.message}`));
      else res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /** SOCKS5: greeting, request, reply, then the splice; `buffered` holds what arrived so far. */
  #socks(socket: net.Socket, first: Buffer): void {
    let buffered = first;
    let greeted = false;
    /** Parses what has arrived; true once the connection is handed on (or ended). */
    const step = (): boolean => {
      if (!greeted) {
        const greeting = parseGreeting(buffered);
        if (greeting.need) return false;
        socket.write(greeting.value);
        if (greeting.value[1] !== 0x00) {
          socket.end();
          return true;
        }
        buffered = greeting.rest;
        greeted = true;
      }
      const request = parseRequest(buffered);
      if (request.need) return false;
      if ('error' in request || !plausibleHost(request.value.host)) {
        socket.end(reply('error' in request ? request.error : SOCKS_REPLY.addressTypeNotSupported));
        return true;
      }
      void this.#socksConnect(socket, request.value, request.rest);
      return true;
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (step()) {
        socket.off('data', onData);
        socket.pause();
      }
    };
    if (step()) return;
    socket.on('data', onData);
    socket.resume();
  }

  async #socksConnect(socket: net.Socket, target: { host: string; port: number }, rest: Buffer): Promise<void> {
    let stream: ClientHttp2Stream;
    try {
      stream = await this.#options.dial(target.host, target.port);
    } catch (err) {
      socket.end(reply(replyFor(this.#failed(err, `SOCKS CONNECT ${target.host}:${target.port}`))));
      return;
    }
    if (socket.destroyed) {
      stream.close();
      return;
    }
    socket.write(reply(SOCKS_REPLY.succeeded));
    if (rest.length > 0) stream.write(rest);
    spliceStream(stream, socket);
    socket.resume();
  }
}

/** `host:port` or `[v6]:port`; `defaultPort` when the port is left out. */
function parseHostPort(value: string, defaultPort: number | undefined): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/]+))(?::(\d{1,5}))?$/.exec(value);
  if (match === null) return undefined;
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  if (port === undefined || port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

/** Raw header pairs minus hop-by-hop fields and those `Connection` names. */
function forwardable(raw: string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const token of raw[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function sendJson(res: http.ServerResponse, error: DetourError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(error.toBody());
  res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
}

/** A refused CONNECT: the status and JSON body written on the raw socket, then closed. */
function writeRawError(socket: net.Socket, error: DetourError): void {
  const body = JSON.stringify(error.toBody());
  const reason = http.STATUS_CODES[error.status] ?? 'Error';
  socket.end(`HTTP/1.1 ${error.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
