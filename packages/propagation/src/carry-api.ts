import { context } from '@opentelemetry/api';
import { getCarried, withCarried, type CarriedHeaders } from './carried-headers.js';
import { DEFAULTS } from './defaults.js';
import { ERROR_CODES, PropagationError } from './errors.js';
import { normalizeHeaderValue } from './header-value.js';
import { activeRegistration } from './register.js';
import type { PropagationStats } from './stats.js';

const ZERO_STATS: PropagationStats = Object.freeze({ receivedHeaders: 0, propagatedHeaders: 0, droppedHeaders: 0, appSetHeaders: 0 });

function headerNames(): readonly string[] {
  return activeRegistration()?.config.headers ?? DEFAULTS.headers;
}

/**
 * The value of a carried header in the current request's context, e.g. the
 * `x-telepresence-id` of the request being handled. Defaults to the first
 * configured header.
 */
export function currentValue(header?: string): string | undefined {
  const name = (header ?? headerNames()[0] ?? '').toLowerCase();
  return getCarried(context.active())?.[name];
}

/** All carried headers in the current context (empty when none). */
export function currentHeaders(): CarriedHeaders {
  return getCarried(context.active()) ?? Object.freeze({});
}

/**
 * Runs `fn` with `value` carried as `header` (default: the first configured
 * header), so outbound calls made inside it carry the value. For work that
 * starts outside a request: consumers, cron jobs, batch flushes.
 *
 * @throws PropagationError DETOUR_ERR_PROPAGATION_VALUE when the value is not
 *   printable ASCII or is too long; `fn` is not run then.
 */
export function withValue<T>(value: string, fn: () => T, header?: string): T {
  const name = (header ?? headerNames()[0] ?? '').toLowerCase();
  return withHeaders({ [name]: value }, fn);
}

/** Like `withValue` for several headers; they are merged over those already carried. */
export function withHeaders<T>(headers: Readonly<Record<string, string>>, fn: () => T): T {
  const registration = activeRegistration();
  const maxValueBytes = registration?.config.maxValueBytes ?? DEFAULTS.maxValueBytes;
  const merged: Record<string, string> = { ...currentHeaders() };
  for (const [rawName, rawValue] of Object.entries(headers)) {
    const value = normalizeHeaderValue(rawValue, maxValueBytes);
    if (value === undefined || value !== rawValue) {
      throw new PropagationError(ERROR_CODES.VALUE, `cannot carry ${rawName}: use 1-${maxValueBytes} printable ASCII characters without commas`);
    }
    merged[rawName.toLowerCase()] = value;
  }
  const mirror = { header: headerNames()[0] ?? '', baggageKey: registration?.config.baggageKey };
  return context.with(withCarried(context.active(), merged, mirror), fn);
}

/** Counters since `register()`; all zero before it. */
export function stats(): PropagationStats {
  return activeRegistration()?.stats.snapshot() ?? ZERO_STATS;
}
