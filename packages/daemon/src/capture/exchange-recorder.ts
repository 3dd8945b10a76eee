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
  /** The intercept's `--fallthrough-status` list: answers with one of these were replaced by the app's. */
  fallthroughStatuses?: readonly number[];
}

/** What the agent sets on a `--mode wiretap` copy: `app-status=N` (packages/agent/src/wiretap.ts). */
const WIRETAP_APP_STATUS = /^app-status=(\d{3})$/;

function wiretapAppStatus(headers: Fields): number | undefined {
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'detour-wiretap') continue;
    const match = WIRETAP_APP_STATUS.exec(value);
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}

/** What the agent sets on a request it will not let fall through (packages/agent/src/fallthrough.ts). */
const FALLTHROUGH_HEADER = 'detour-fallthrough';
/** gRPC UNIMPLEMENTED: a trailers-only answer with it counts as 501 for `--fallthrough-status`. */
const GRPC_UNIMPLEMENTED = '12';

/**
 * Builds one captured exchange as its parts pass by and puts it in the ring
 * at three moments only (request head, response head, end), so a body of many
 * chunks costs one copy of its first 64 KiB and a byte count, nothing more.
 */
export class ExchangeRecorder {
  readonly #ring: ExchangeRing;
  readonly #exchange: CapturedExchange;
  readonly #fallthroughStatuses: readonly number[] | undefined;
  readonly #started = performance.now();
  readonly #requestBody = new BodyPrefix();
  #responseBody: BodyPrefix | undefined;
  #finished = false;

  constructor(ring: ExchangeRing, start: ExchangeStart) {
    this.#ring = ring;
    const { fallthroughStatuses, ...shown } = start;
    this.#fallthroughStatuses = fallthroughStatuses;
    this.#exchange = { id: ring.nextId(), startedAt: Date.now(), ...shown, requestBody: this.#requestBody.toCaptured(), state: 'pending' };
    const appStatus = wiretapAppStatus(start.requestHeaders);
    if (appStatus !== undefined) this.#exchange.wiretap = { appStatus };
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
    const fallthrough = this.#fallthroughOf(status, headers);
    if (fallthrough !== undefined) this.#exchange.fallthrough = fallthrough;
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

  /** The agent's decision for this answer, made by the same rule from what the laptop saw (see CapturedExchange.fallthrough). */
  #fallthroughOf(status: number, headers: Fields): CapturedExchange['fallthrough'] {
    const statuses = this.#fallthroughStatuses;
    if (statuses === undefined) return undefined;
    if (this.#exchange.requestHeaders.some(([name, value]) => name.toLowerCase() === FALLTHROUGH_HEADER && value.startsWith('off'))) return 'ineligible';
    const grpcUnimplemented = statuses.includes(501) && headers.some(([name, value]) => name === 'grpc-status' && value === GRPC_UNIMPLEMENTED);
    return statuses.includes(status) || grpcUnimplemented ? 'to-app' : undefined;
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
