import { createContextKey, propagation, type Context } from '@opentelemetry/api';

/** Header name (lower-case) to value, as carried in the OpenTelemetry context. */
export type CarriedHeaders = Readonly<Record<string, string>>;

const CARRIED_HEADERS = createContextKey('detour.propagation.carried-headers');

export function getCarried(ctx: Context): CarriedHeaders | undefined {
  return ctx.getValue(CARRIED_HEADERS) as CarriedHeaders | undefined;
}

/**
 * Returns `ctx` carrying `headers`. When a baggage key is configured the first
 * header's value is mirrored into baggage, so intercepts that match on
 * `baggage` work too.
 */
export function withCarried(
  ctx: Context,
  headers: CarriedHeaders,
  mirror: { readonly header: string; readonly baggageKey: string | undefined },
): Context {
  let next = ctx.setValue(CARRIED_HEADERS, Object.freeze({ ...headers }));
  const value = headers[mirror.header];
  if (mirror.baggageKey !== undefined && value !== undefined) {
    const bag = propagation.getBaggage(next) ?? propagation.createBaggage();
    next = propagation.setBaggage(next, bag.setEntry(mirror.baggageKey, { value }));
  }
  return next;
}
