import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { BODY_KIND, BodyFramer, isDetourError, requestBodyKind } from '@detour/core';
import type { RequestHead } from '@detour/core';
import type { Intercept } from '@detour/protocol';
import { RELAY_HEADER_OFFLINE } from '@detour/protocol';
import type { Exchange, ExchangeHost } from './exchange.js';
import { applyOfflinePolicy, fallBackToApp } from './offline.js';
import { lastChunk, relayRequestHeaders, relayResponseHead } from './relay-headers.js';
import type { RelayFraming } from './relay-headers.js';

const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * A matched request relayed to its developer as one stream on the manager's
 * HTTP/2 session. The body goes de-chunked with backpressure; the response comes
 * back translated into HTTP/1.1.
 */
export class RelayExchange implements Exchange {
  readonly #host: ExchangeHost;
  readonly #head: RequestHead;
  readonly #buf: Buffer;
  readonly #start: number;
  readonly #intercept: Intercept;
  readonly #request: BodyFramer;
  #stream: ClientHttp2Stream | undefined;
  /** Request bytes taken from the client; while 0 the request can still go to the app instead. */
  #consumed = 0;
  #framing: RelayFraming | undefined;
  /** For `length` framing: body bytes still owed to the client. */
  #owed = 0;
  #close = false;
  #trailers: IncomingHttpHeaders | undefined;
  #waitingStream = false;
  #waitingClient = false;
  #done = false;

  constructor(host: ExchangeHost, head: RequestHead, buf: Buffer, start: number, intercept: Intercept) {
    this.#host = host;
    this.#head = head;
    this.#buf = buf;
    this.#start = start;
    this.#intercept = intercept;
    this.#request = new BodyFramer(requestBodyKind(head), head.contentLength, {
      code: 'DETOUR_ERR_AGENT_BAD_REQUEST',
      onData: (data, s, e) => this.#toStream(data.subarray(s, e)),
    });
  }

  start(): void {
    const { app } = this.#host.ctx.options;
    const headers = relayRequestHeaders(this.#head, this.#buf, this.#start, this.#intercept.id, `${app.host}:${app.port}`);
    const stream = this.#host.ctx.link.request(headers, {
      endStream: this.#request.done,
      waitForTrailers: this.#request.kind === BODY_KIND.CHUNKED,
    });
    if (stream === undefined) {
      this.#offline();
      return;
    }
    this.#stream = stream;
    // The relay carries no interim responses; a client waiting for 100 gets it here (RFC 9110 §10.1.1).
    if (this.#head.expectContinue) this.#host.socket.write(CONTINUE);
    stream.on('response', (headers) => this.#response(headers));
    stream.on('data', (chunk: Buffer) => this.#data(chunk));
    stream.on('trailers', (trailers) => {
      this.#trailers = trailers;
    });
    stream.on('end', () => this.#end());
    stream.on('drain', () => {
      if (!this.#waitingStream) return;
      this.#waitingStream = false;
      this.#host.resumeReading();
    });
    stream.on('wantTrailers', () => {
      const fields = Object.fromEntries(this.#request.trailers());
      stream.sendTrailers(fields);
    });
    stream.on('error', (err) => this.#failed(err));
    stream.on('close', () => this.#failed(new Error(`relay stream closed (HTTP/2 code ${stream.rstCode ?? 0})`)));
  }

  body(buf: Buffer, start: number, end: number): number {
    if (this.#request.done || this.#done) return start;
    let stop: number;
    try {
      stop = this.#request.consume(buf, start, end);
    } catch (err) {
      this.#cancel();
      if (this.#framing === undefined && isDetourError(err)) this.#host.fail(400, err.code, err.message);
      else this.#host.abort(err as Error);
      return end;
    }
    this.#consumed += stop - start;
    if (this.#request.done) this.#stream?.end();
    return stop;
  }

  clientEnd(): void {}

  clientDrain(): void {
    if (!this.#waitingClient) return;
    this.#waitingClient = false;
    this.#stream?.resume();
  }

  abort(): void {
    this.#cancel();
  }

  #toStream(data: Buffer): void {
    if (!this.#stream!.write(data) && !this.#waitingStream) {
      this.#waitingStream = true;
      this.#host.pauseReading();
    }
  }

  #toClient(bytes: Buffer): void {
    if (!this.#host.socket.write(bytes) && !this.#waitingClient) {
      this.#waitingClient = true;
      this.#stream?.pause();
    }
  }

  #response(headers: IncomingHttpHeaders): void {
    if (this.#done) return;
    if (headers[RELAY_HEADER_OFFLINE] !== undefined && this.#intercept.onDisconnect === 'fallback' && this.#consumed === 0) {
      // The developer dropped between our routing decision and the relay: the
      // request has not left the agent yet, so the app can still serve it.
      this.#cancel();
      this.#fallback();
      return;
    }
    const translated = relayResponseHead(headers, this.#head);
    this.#framing = translated.framing;
    if (translated.framing === 'length') this.#owed = Number(headers['content-length']);
    this.#close = translated.close || !this.#request.done;
    this.#toClient(translated.head);
  }

  #data(chunk: Buffer): void {
    if (this.#done || this.#framing === undefined || this.#framing === 'none') return;
    if (this.#framing !== 'chunked') {
      this.#owed -= chunk.length;
      this.#toClient(chunk);
      return;
    }
    const socket = this.#host.socket;
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    this.#toClient(CRLF);
    socket.uncork();
  }

  #end(): void {
    if (this.#done || this.#framing === undefined) return;
    const stream = this.#stream!;
    // A reset also ends the readable side; a short body is no complete response either.
    const reset = stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
    if (reset || (this.#framing === 'length' && this.#owed !== 0)) {
      this.#failed(new Error(reset ? `relay stream reset (HTTP/2 code ${stream.rstCode})` : 'relay response shorter than its Content-Length'));
      return;
    }
    this.#done = true;
    if (this.#framing === 'chunked') this.#toClient(lastChunk(this.#trailers));
    // Only a request body still being sent needs a reset to stop; otherwise the
    // stream closes by itself, and a needless RST_STREAM would ripple as a
    // cancel through the manager to the daemon on every request.
    if (!stream.closed && !stream.writableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    this.#host.finish(!this.#close && this.#request.done);
  }

  #failed(err: Error): void {
    if (this.#done) return;
    this.#cancel();
    if (this.#framing !== undefined) {
      // Part of the response is out: the only honest signal left is to drop this connection.
      this.#host.abort(err);
      return;
    }
    if (this.#consumed === 0) {
      // Nothing of the request or response crossed: the link is down for this
      // request, and the intercept's offline policy decides.
      this.#offline();
      return;
    }
    this.#host.fail(502, 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE', `relay through the manager failed: ${err.message}`);
  }

  #offline(): void {
    this.#done = true;
    applyOfflinePolicy(this.#host, this.#intercept, this.#head, this.#buf, this.#start);
  }

  #fallback(): void {
    this.#done = true;
    fallBackToApp(this.#host, this.#head, this.#buf, this.#start);
  }

  #cancel(): void {
    this.#done = true;
    const stream = this.#stream;
    if (stream !== undefined && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
