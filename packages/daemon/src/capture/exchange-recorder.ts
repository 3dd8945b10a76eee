import type { CapturedExchange, ExchangeProtocol, Fields } from '@detour/dashboard-ui/model';
import { BodyPrefix } from './body-prefix.js';
import type { ExchangeRing } from './exchange-ring.js';

export interface ExchangeStart {
  interceptId: string;
  interceptName?: string;
  service?: string;
  protocol: ExchangeProtocol;
  method: string;
  path: string;
  authority?: string;
  requestHeaders: Fields;
}

/**
 * Builds one captured exchange as its parts pass by and puts it in the ring
 * at three moments only (request head, response head, end), so a body of many
 * chunks costs one copy of its first 64 KiB and a byte count, nothing more.
 */
export class ExchangeRecorder {
  readonly #ring: ExchangeRing;
  readonly #exchange: CapturedExchange;
  readonly #started = performance.now();
  readonly #requestBody = new BodyPrefix();
  #responseBody: BodyPrefix | undefined;
  #finished = false;

  constructor(ring: ExchangeRing, start: ExchangeStart) {
    this.#ring = ring;
    this.#exchange = { id: ring.nextId(), startedAt: Date.now(), ...start, requestBody: this.#requestBody.toCaptured(), state: 'pending' };
    ring.put(this.#exchange);
  }

  get method(): string {
    return this.#exchange.method;
  }

  get finished(): boolean {
    return this.#finished;
  }

  requestData(buf: Buffer, start?: number, end?: number): void {
    this.#requestBody.add(buf, start, end);
  }

  requestTrailers(trailers: Fields): void {
    if (trailers.length > 0) this.#exchange.requestTrailers = trailers;
  }

  response(status: number, headers: Fields): void {
    if (this.#finished) return;
    this.#responseBody = new BodyPrefix();
    this.#exchange.status = status;
    this.#exchange.responseHeaders = headers;
    this.#put();
  }

  responseData(buf: Buffer, start?: number, end?: number): void {
    this.#responseBody?.add(buf, start, end);
  }

  complete(trailers?: Fields): void {
    if (this.#finished) return;
    if (trailers !== undefined && trailers.length > 0) this.#exchange.responseTrailers = trailers;
    this.#finish('complete');
  }

  fail(reason: string): void {
    if (this.#finished) return;
    this.#exchange.error = reason;
    this.#finish('error');
  }

  #finish(state: 'complete' | 'error'): void {
    this.#finished = true;
    this.#exchange.state = state;
    this.#exchange.durationMs = Math.round((performance.now() - this.#started) * 10) / 10;
    this.#put();
  }

  #put(): void {
    // A fresh object each time: the dashboard may still be sending the previous one.
    this.#ring.put({
      ...this.#exchange,
      requestBody: this.#requestBody.toCaptured(),
      ...(this.#responseBody === undefined ? {} : { responseBody: this.#responseBody.toCaptured() }),
    });
  }
}
