import { BODY_KIND, BodyFramer, findHeadEnd, parseRequestHead, parseResponseHead, requestBodyKind, responseBodyKind } from '@detour/core';
import type { Fields } from '@detour/dashboard-ui/model';
import type { ExchangeStart } from './exchange-recorder.js';
import { ExchangeRecorder } from './exchange-recorder.js';
import type { ExchangeRing } from './exchange-ring.js';

/** Heads longer than this are not followed (the agent refuses over 32 KiB anyway). */
const MAX_HEAD_BYTES = 64 * 1024;
const CODE = 'DETOUR_ERR_AGENT_BAD_REQUEST';

/** The field lines of a head already validated by the codec, as `[name, value]` pairs. */
function fieldsOf(buf: Buffer, start: number, end: number): Fields {
  const text = buf.toString('latin1', start, end);
  const lines = text.split('\r\n');
  const fields: Fields = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return fields;
}

/** One direction's bytes: a head being gathered, then its body being framed. */
class Direction {
  #pending: Buffer | undefined;
  framer: BodyFramer | undefined;

  /** Appends and returns the unconsumed bytes. */
  take(chunk: Buffer): Buffer {
    if (this.#pending === undefined) return chunk;
    const all = Buffer.concat([this.#pending, chunk]);
    this.#pending = undefined;
    return all;
  }

  /** Where the head starting at `at` ends, or -1 once the partial head is kept for the next chunk. */
  headEnd(buf: Buffer, at: number, what: 'request' | 'response'): number {
    const end = findHeadEnd(buf, at, at, buf.length, CODE);
    if (end !== -1) return end;
    if (buf.length - at > MAX_HEAD_BYTES) throw new Error(`${what} head too long to follow`);
    if (at < buf.length) this.#pending = Buffer.from(buf.subarray(at));
    return -1;
  }
}

export type ExchangeContext = Omit<ExchangeStart, 'protocol' | 'method' | 'path' | 'requestHeaders' | 'authority'>;

/**
 * Follows one HTTP/1.1 connection spliced between the tunnel and the local app
 * without taking part in it: it is handed copies of each direction's chunks
 * after they were written on, reads heads with the agent's own codec, frames
 * bodies with `BodyFramer`, and records each exchange (pipelined ones in
 * order). Whatever it cannot follow (an upgrade, bytes that are not HTTP) ends
 * the observation of that connection, never the connection.
 */
export class Http1Observer {
  readonly #ring: ExchangeRing;
  readonly #context: ExchangeContext;
  readonly #request = new Direction();
  readonly #response = new Direction();
  /** Requests sent and not yet answered, oldest first. */
  readonly #waiting: ExchangeRecorder[] = [];
  /** The request whose body is passing, and the exchange whose response body is. */
  #sending: ExchangeRecorder | undefined;
  #answering: ExchangeRecorder | undefined;
  #stopped = false;
  /** After an upgrade request the caller's bytes may be another protocol's: that direction is no longer read. */
  #requestsDone = false;

  constructor(ring: ExchangeRing, context: ExchangeContext) {
    this.#ring = ring;
    this.#context = context;
  }

  /** Bytes from the caller (through the tunnel) to the local app. */
  request(chunk: Buffer): void {
    if (this.#stopped || this.#requestsDone) return;
    this.#guard(() => this.#onRequest(this.#request.take(chunk)));
  }

  /** Bytes from the local app back to the caller. */
  response(chunk: Buffer): void {
    if (this.#stopped) return;
    this.#guard(() => this.#onResponse(this.#response.take(chunk)));
  }

  /** The app's side ended: a close-delimited body is complete; anything unanswered never will be. */
  end(reason = 'the connection closed before the answer was complete'): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const framer = this.#response.framer;
    if (this.#answering !== undefined && framer?.kind === BODY_KIND.CLOSE) {
      this.#answering.complete();
      this.#answering = undefined;
    }
    for (const recorder of [this.#answering, ...this.#waiting]) recorder?.fail(reason);
    this.#waiting.length = 0;
  }

  #guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.end(`capture stopped on this connection: ${(err as Error).message}`);
    }
  }

  #onRequest(buf: Buffer): void {
    let at = 0;
    while (at < buf.length && !this.#stopped && !this.#requestsDone) {
      const framer = this.#request.framer;
      if (framer !== undefined && this.#sending !== undefined) {
        at = framer.consume(buf, at, buf.length);
        if (framer.done) {
          if (framer.kind === BODY_KIND.CHUNKED) this.#sending.requestTrailers(framer.trailers());
          this.#request.framer = undefined;
          this.#sending = undefined;
        }
        continue;
      }
      const headEnd = this.#request.headEnd(buf, at, 'request');
      if (headEnd === -1) return;
      const head = parseRequestHead(buf, at, headEnd);
      const recorder = new ExchangeRecorder(this.#ring, {
        ...this.#context,
        protocol: 'http/1.1',
        method: head.method,
        path: head.target,
        ...(head.host === undefined ? {} : { authority: head.host }),
        requestHeaders: fieldsOf(buf, at, headEnd - 4),
      });
      this.#waiting.push(recorder);
      at = headEnd;
      const body = new BodyFramer(requestBodyKind(head), head.contentLength, { code: CODE, onData: (b, s, e) => recorder.requestData(b, s, e) });
      if (!body.done) {
        this.#request.framer = body;
        this.#sending = recorder;
      }
      // After an upgrade the bytes are another protocol's; the 101 (or a refusal) still gets recorded.
      if (head.upgrade) {
        this.#requestsDone = true;
        return;
      }
    }
  }

  #onResponse(buf: Buffer): void {
    let at = 0;
    while (at < buf.length && !this.#stopped) {
      const framer = this.#response.framer;
      if (framer !== undefined && this.#answering !== undefined) {
        at = framer.consume(buf, at, buf.length);
        if (framer.done) {
          this.#answering.complete(framer.kind === BODY_KIND.CHUNKED ? framer.trailers() : undefined);
          this.#response.framer = undefined;
          this.#answering = undefined;
        }
        continue;
      }
      const headEnd = this.#response.headEnd(buf, at, 'response');
      if (headEnd === -1) return;
      const head = parseResponseHead(buf, at, headEnd);
      const fields = fieldsOf(buf, at, headEnd - 4);
      at = headEnd;
      // 1xx but 101 are interim (RFC 9110 §15.2): the final answer follows.
      if (head.status < 200 && head.status !== 101) continue;
      const recorder = this.#waiting.shift();
      if (recorder === undefined) throw new Error('a response without a request');
      recorder.response(head.status, fields);
      if (head.status === 101) {
        recorder.complete();
        this.#stopped = true;
        return;
      }
      const body = new BodyFramer(responseBodyKind(head, recorder.method), head.contentLength, { code: CODE, onData: (b, s, e) => recorder.responseData(b, s, e) });
      if (body.done) {
        recorder.complete();
        continue;
      }
      this.#response.framer = body;
      this.#answering = recorder;
    }
  }
}
