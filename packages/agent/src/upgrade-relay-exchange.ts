import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { RequestHead } from '@detour/core';
import type { Intercept } from '@detour/protocol';
import { RELAY_HEADER_OFFLINE } from '@detour/protocol';
import type { Exchange, ExchangeHost } from './exchange.js';
import { applyOfflinePolicy, fallBackToApp } from './offline.js';
import { relayResponseHead } from './relay-headers.js';
import type { RelayFraming } from './relay-headers.js';

/** Fields of the stream's 200 that are HTTP/2 pseudo-headers or connection management, not part of the 101. */
const NOT_SWITCHED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'content-length', RELAY_HEADER_OFFLINE]);
const UNSAFE_VALUE = /[\0\r\n]/;

/**
 * A matched HTTP/1.1 Upgrade (WebSocket, …) relayed to its developer as an
 * RFC 8441 extended CONNECT stream. Until the developer's app answers, the
 * client's bytes wait in the connection buffer (a client must not speak the new
 * protocol before the 101, RFC 9110 §7.8). On `:status 200` the client gets
 * `101 Switching Protocols` and from then on the connection and the stream are
 * one byte pipe, with backpressure both ways, until either side closes. Any
 * other status is the app declining: it is relayed as a response and the
 * connection closes after it.
 */
export class UpgradeRelayExchange implements Exchange {
  readonly #host: ExchangeHost;
  readonly #head: RequestHead;
  readonly #buf: Buffer;
  readonly #start: number;
  readonly #intercept: Intercept;
  readonly #headers: OutgoingHttpHeaders;
  readonly #token: string;
  #stream: ClientHttp2Stream | undefined;
  #switched = false;
  #framing: RelayFraming | undefined;
  #waitingStream = false;
  #waitingClient = false;
  #done = false;

  constructor(host: ExchangeHost, head: RequestHead, buf: Buffer, start: number, intercept: Intercept, headers: OutgoingHttpHeaders) {
    this.#host = host;
    this.#head = head;
    this.#buf = buf;
    this.#start = start;
    this.#intercept = intercept;
    this.#headers = headers;
    this.#token = String(headers[':protocol']);
  }

  start(): void {
    const stream = this.#host.ctx.link.request(this.#headers, { endStream: false });
    if (stream === undefined) {
      this.#offline();
      return;
    }
    this.#stream = stream;
    stream.on('response', (headers) => this.#response(headers));
    stream.on('data', (chunk: Buffer) => this.#toClient(chunk));
    stream.on('end', () => this.#streamEnd());
    stream.on('drain', () => {
      if (!this.#waitingStream) return;
      this.#waitingStream = false;
      this.#host.resumeReading();
    });
    stream.on('error', () => undefined); // 'close' follows and decides
    stream.on('close', () => this.#streamClosed(stream));
  }

  body(buf: Buffer, start: number, end: number): number {
    if (!this.#switched || this.#done) return start;
    const stream = this.#stream!;
    if (!stream.write(buf.subarray(start, end)) && !this.#waitingStream) {
      this.#waitingStream = true;
      this.#host.pauseReading();
    }
    return end;
  }

  clientEnd(): void {
    // The client's FIN is the END_STREAM of the tunnel (RFC 9113 §8.5).
    if (this.#switched) this.#stream?.end();
  }

  clientDrain(): void {
    if (!this.#waitingClient) return;
    this.#waitingClient = false;
    this.#stream?.resume();
  }

  abort(): void {
    this.#cancel(http2.constants.NGHTTP2_CANCEL);
  }

  #toClient(bytes: Buffer): void {
    if (this.#done || (!this.#switched && (this.#framing === undefined || this.#framing === 'none'))) return;
    if (!this.#host.socket.write(bytes) && !this.#waitingClient) {
      this.#waitingClient = true;
      this.#stream?.pause();
    }
  }

  #response(headers: IncomingHttpHeaders): void {
    if (this.#done) return;
    const status = Number(headers[':status']);
    if (headers[RELAY_HEADER_OFFLINE] !== undefined && this.#intercept.onDisconnect === 'fallback') {
      // The developer dropped between routing and relay; nothing of the client's was sent yet.
      this.#cancel(http2.constants.NGHTTP2_CANCEL);
      this.#fallback();
      return;
    }
    if (status === 200) {
      this.#switched = true;
      let text = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${this.#token}\r\n`;
      for (const [name, value] of Object.entries(headers)) {
        if (name.charCodeAt(0) === 0x3a || NOT_SWITCHED.has(name) || value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) if (!UNSAFE_VALUE.test(v)) text += `${name}: ${v}\r\n`;
      }
      this.#host.socket.write(`${text}\r\n`, 'latin1');
      // Bytes the client sent behind its head now belong to the new protocol.
      this.#host.pump();
      return;
    }
    // Declined: an ordinary response, delimited by length or by the close that follows it.
    const translated = relayResponseHead(headers, { method: this.#head.method, minor: 0, keepAlive: false });
    this.#framing = translated.framing;
    this.#host.socket.write(translated.head);
  }

  #streamEnd(): void {
    if (this.#done) return;
    if (this.#switched) {
      // The app's FIN: half-close towards the client; the client may still be sending.
      this.#host.socket.end();
      return;
    }
    if (this.#framing !== undefined) {
      this.#done = true;
      this.#host.finish(false);
    }
  }

  #streamClosed(stream: ClientHttp2Stream): void {
    if (this.#done) return;
    const reset = stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
    if (this.#switched || this.#framing !== undefined) {
      this.#done = true;
      // A reset tunnel is a broken connection: the client must see it broken, not ended.
      if (reset) this.#host.abort(new Error(`upgraded stream reset (HTTP/2 code ${stream.rstCode})`));
      else this.#host.finish(false);
      return;
    }
    this.#offline();
  }

  #offline(): void {
    this.#done = true;
    applyOfflinePolicy(this.#host, this.#intercept, this.#head, this.#buf, this.#start);
  }

  #fallback(): void {
    this.#done = true;
    fallBackToApp(this.#host, this.#head, this.#buf, this.#start);
  }

  #cancel(code: number): void {
    this.#done = true;
    const stream = this.#stream;
    if (stream !== undefined && !stream.closed) stream.close(code);
  }
}
