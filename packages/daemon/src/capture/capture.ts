import type { IncomingHttpHeaders } from 'node:http2';
import { ExchangeRing } from './exchange-ring.js';
import type { ExchangeRingOptions } from './exchange-ring.js';
import { Http1Observer } from './http1-observer.js';
import type { ExchangeContext } from './http1-observer.js';
import { H2Observer } from './h2-observer.js';

/** The intercept a relayed stream belongs to, as the daemon knows it. */
export type InterceptLookup = (interceptId: string) => { name: string; service: string; mechanism: 'http' | 'tcp'; fallthroughStatuses?: readonly number[] } | undefined;

/**
 * Capture of what the tunnel brings to this laptop, switched on while the
 * dashboard runs. The forwarder asks `capture.current` once per stream; with
 * no capture it does exactly what it did before (no listener, no copy).
 */
export class Capture {
  readonly ring: ExchangeRing;
  readonly #lookup: InterceptLookup;

  constructor(options: ExchangeRingOptions, lookup: InterceptLookup) {
    this.ring = new ExchangeRing(options);
    this.#lookup = lookup;
  }

  /** A raw TCP intercept's connection is not HTTP: nothing to follow. */
  http1(interceptId: string): Http1Observer | undefined {
    if (this.#lookup(interceptId)?.mechanism === 'tcp') return undefined;
    return new Http1Observer(this.ring, this.#context(interceptId));
  }

  h2(interceptId: string, headers: IncomingHttpHeaders): H2Observer {
    return new H2Observer(this.ring, this.#context(interceptId), headers);
  }

  #context(interceptId: string): ExchangeContext {
    const known = this.#lookup(interceptId);
    if (known === undefined) return { interceptId };
    const context: ExchangeContext = { interceptId, interceptName: known.name, service: known.service };
    if (known.fallthroughStatuses !== undefined) context.fallthroughStatuses = known.fallthroughStatuses;
    return context;
  }
}

/** Where the forwarder looks for the capture; the dashboard sets and clears it. */
export interface CaptureSwitch {
  current: Capture | undefined;
}
