import { trace, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { getCarried, withCarried } from './carried-headers.js';
import { normalizeHeaderValue } from './header-value.js';
import type { Logger } from './logger.js';
import type { PropagationConfig } from './options.js';
import type { OutboundDecisions } from './outbound-decisions.js';
import { isProbeValue } from './probe-value.js';
import type { StatsCounter } from './stats.js';

/**
 * An OpenTelemetry propagator for plain headers such as `x-telepresence-id`:
 * extract copies them from an inbound carrier into the context, inject writes
 * them onto an outbound carrier. It never writes a header the app already set
 * (fetch would otherwise send two copies) nor one a hook withheld for egress.
 */
export class HeaderPropagator implements TextMapPropagator {
  readonly #config: PropagationConfig;
  readonly #decisions: OutboundDecisions;
  readonly #stats: StatsCounter;
  readonly #logger: Logger;

  constructor(config: PropagationConfig, decisions: OutboundDecisions, stats: StatsCounter, logger: Logger) {
    this.#config = config;
    this.#decisions = decisions;
    this.#stats = stats;
    this.#logger = logger;
  }

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const carried = getCarried(ctx);
    if (carried === undefined) return;
    const span = trace.getSpan(ctx);
    let withheld = this.#decisions.withheld(span);
    // gRPC has no host in the carrier: only our grpc hook knows the target. If
    // it did not run (an app's own GrpcInstrumentation), fail closed.
    if (withheld === undefined && isGrpcMetadata(carrier)) withheld = new Set(this.#config.headers);
    for (const name of this.#config.headers) {
      const value = carried[name];
      if (value === undefined) continue;
      const counted = !isProbeValue(value);
      if (withheld?.has(name) === true) {
        if (counted) this.#stats.droppedHeaders++;
        this.#logger.debug(`detour propagation: withheld ${name} (destination not allowed)`);
      } else if (carrierHas(carrier, name)) {
        if (counted) this.#stats.appSetHeaders++;
        this.#logger.debug(`detour propagation: kept the app's own ${name}`);
      } else {
        setter.set(carrier, name, value);
        if (counted) this.#stats.propagatedHeaders++;
      }
    }
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const found: Record<string, string> = {};
    let count = 0;
    for (const name of this.#config.headers) {
      const value = normalizeHeaderValue(getter.get(carrier, name), this.#config.maxValueBytes);
      if (value === undefined) continue;
      found[name] = value;
      if (!isProbeValue(value)) count++;
    }
    if (Object.keys(found).length === 0) return ctx;
    this.#stats.receivedHeaders += count;
    return withCarried(ctx, found, { header: this.#config.headers[0] ?? '', baggageKey: this.#config.baggageKey });
  }

  fields(): string[] {
    return [...this.#config.headers];
  }
}

/** grpc-js Metadata, recognized by shape so grpc-js stays an optional peer. */
function isGrpcMetadata(carrier: unknown): carrier is { get(key: string): unknown[] } {
  const c = carrier as { get?: unknown; getMap?: unknown } | null;
  return typeof c === 'object' && c !== null && typeof c.get === 'function' && typeof c.getMap === 'function';
}

/**
 * Whether the outbound carrier already holds the header. instrumentation-http
 * injects into a copy of the app's own headers, so an app-set value is seen
 * here; fetch's fresh carrier is handled by the undici hook instead.
 */
function carrierHas(carrier: unknown, name: string): boolean {
  if (isGrpcMetadata(carrier)) return carrier.get(name).length > 0;
  if (typeof carrier !== 'object' || carrier === null) return false;
  return Object.keys(carrier).some((key) => key.toLowerCase() === name);
}
