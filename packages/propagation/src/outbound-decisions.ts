import type { Span } from '@opentelemetry/api';

/**
 * Per-call decisions made by instrumentation hooks before the propagator runs,
 * keyed by the span the instrumentation created for that call (a fresh object
 * per call even without a tracer, since the no-op tracer still allocates one).
 */
export class OutboundDecisions {
  readonly #withheld = new WeakMap<Span, ReadonlySet<string>>();

  /** Records that these headers must not be written on the call behind `span`. */
  withhold(span: Span, headers: Iterable<string>): void {
    const merged = new Set(this.#withheld.get(span));
    for (const h of headers) merged.add(h);
    this.#withheld.set(span, merged);
  }

  /** Marks a call whose destination was checked; nothing is withheld. */
  checked(span: Span): void {
    if (!this.#withheld.has(span)) this.#withheld.set(span, new Set());
  }

  /** The withheld headers, or undefined when no hook looked at this call. */
  withheld(span: Span | undefined): ReadonlySet<string> | undefined {
    return span === undefined ? undefined : this.#withheld.get(span);
  }
}
