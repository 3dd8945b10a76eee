import type { CapturedExchange } from '@detour/dashboard-ui/model';

export const CAPTURE_DEFAULTS = {
  /** Exchanges kept; older ones are dropped first. */
  maxExchanges: 500,
  /** Bytes kept over all exchanges (bodies and heads); older ones are dropped first. */
  maxBytes: 32 * 1024 * 1024,
} as const;

export interface ExchangeRingOptions {
  maxExchanges: number;
  maxBytes: number;
}

/** What an exchange weighs in the budget: its kept body bytes (base64 is what is held) and its fields. */
export function exchangeBytes(exchange: CapturedExchange): number {
  let bytes = exchange.requestBody.base64.length + (exchange.responseBody?.base64.length ?? 0) + exchange.path.length + 64;
  for (const fields of [exchange.requestHeaders, exchange.responseHeaders, exchange.requestTrailers, exchange.responseTrailers]) {
    for (const [name, value] of fields ?? []) bytes += name.length + value.length + 4;
  }
  return bytes;
}

/** Hears each exchange added or updated, and the ids of those the bounds dropped. */
export interface ExchangeListener {
  put(exchange: CapturedExchange): void;
  dropped(ids: number[]): void;
}

/**
 * The inspector's memory: the last `maxExchanges` exchanges within `maxBytes`,
 * oldest dropped first. Plain data; listeners hear every added or updated
 * exchange (the dashboard's live feed).
 */
export class ExchangeRing {
  readonly maxExchanges: number;
  readonly maxBytes: number;
  /** By id; a Map keeps insertion order, which is id order. */
  readonly #exchanges = new Map<number, { exchange: CapturedExchange; bytes: number }>();
  readonly #listeners = new Set<ExchangeListener>();
  #bytes = 0;
  #nextId = 1;
  /** The largest id ever put: an absent id at or below it was dropped, and its late updates are too. */
  #newestId = 0;

  constructor(options: ExchangeRingOptions) {
    this.maxExchanges = options.maxExchanges;
    this.maxBytes = options.maxBytes;
  }

  nextId(): number {
    return this.#nextId++;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#exchanges.size;
  }

  /** Adds a new exchange or replaces the one with its id (a response arrived), then drops the oldest past either bound. */
  put(exchange: CapturedExchange): void {
    const previous = this.#exchanges.get(exchange.id);
    const bytes = exchangeBytes(exchange);
    if (previous === undefined) {
      if (exchange.id <= this.#newestId) return;
      this.#newestId = exchange.id;
      this.#exchanges.set(exchange.id, { exchange, bytes });
    } else {
      this.#bytes -= previous.bytes;
      previous.exchange = exchange;
      previous.bytes = bytes;
    }
    this.#bytes += bytes;
    // The newest exchange stays even alone over the budget: its bodies are bounded (64 KiB each) anyway.
    const dropped: number[] = [];
    for (const [id, entry] of this.#exchanges) {
      if (this.#exchanges.size <= this.maxExchanges && this.#bytes <= this.maxBytes) break;
      if (id === exchange.id) break;
      this.#exchanges.delete(id);
      this.#bytes -= entry.bytes;
      dropped.push(id);
    }
    for (const listener of this.#listeners) {
      if (dropped.length > 0) listener.dropped(dropped);
      if (this.#exchanges.has(exchange.id)) listener.put(exchange);
    }
  }

  get(id: number): CapturedExchange | undefined {
    return this.#exchanges.get(id)?.exchange;
  }

  /** Newest first. */
  list(): CapturedExchange[] {
    return [...this.#exchanges.values()].map((entry) => entry.exchange).reverse();
  }

  clear(): void {
    this.#exchanges.clear();
    this.#bytes = 0;
  }

  subscribe(listener: ExchangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
