import { propagation, type TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { Logger } from './logger.js';

/** Puts our propagator into the global one and undoes that on `uninstall()`. */
export interface InstalledPropagator {
  uninstall(): void;
}

/**
 * Joins, never replaces, the app's OpenTelemetry propagator, in either order:
 * - an app propagator registered before us is composed with ours now;
 * - one registered after us would be refused by the API's one-shot global
 *   (global-utils.ts registerGlobal), so `setGlobalPropagator` is wrapped to
 *   compose it with ours instead.
 * Alone, we register W3C trace context and baggage too, so `traceparent` and
 * `baggage` pass through a service that has no tracing set up.
 */
export function installGlobalPropagator(ours: TextMapPropagator, needsBaggage: boolean, logger: Logger): InstalledPropagator {
  const api = propagation;
  const setGlobal = api.setGlobalPropagator;
  // Private API (the only way to read the current propagator), hence by name
  // and checked: without it we cannot compose with an earlier registration.
  const getGlobal: unknown = Reflect.get(api, '_getGlobalPropagator');
  const existing = typeof getGlobal === 'function' ? (getGlobal.call(api) as TextMapPropagator) : undefined;
  // The API's no-op propagator reports no fields; a real one always has some.
  const appPropagator = existing !== undefined && existing.fields().length > 0 ? existing : undefined;

  const compose = (app: TextMapPropagator): TextMapPropagator => {
    const propagators = [app, ours];
    // Mirroring into baggage needs a baggage propagator; add one only if the app lacks it.
    if (needsBaggage && !app.fields().includes('baggage')) propagators.push(new W3CBaggagePropagator());
    return new CompositePropagator({ propagators });
  };

  if (appPropagator !== undefined) {
    api.disable();
    setGlobal.call(api, compose(appPropagator));
    logger.debug('detour propagation: composed with the app\'s existing propagator');
  } else {
    setGlobal.call(api, new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), ours],
    }));
  }

  api.setGlobalPropagator = (incoming: TextMapPropagator): boolean => {
    try {
      api.disable();
      logger.debug('detour propagation: composed with a propagator the app registered later');
      return setGlobal.call(api, compose(incoming));
    } catch (err) {
      logger.warn(`detour propagation: could not compose with the app's propagator: ${err instanceof Error ? err.message : String(err)}`);
      return setGlobal.call(api, incoming);
    }
  };

  return {
    uninstall(): void {
      api.setGlobalPropagator = setGlobal;
      api.disable();
      if (appPropagator !== undefined) setGlobal.call(api, appPropagator);
    },
  };
}
