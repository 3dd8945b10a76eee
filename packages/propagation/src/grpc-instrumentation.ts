import type { Span } from '@opentelemetry/api';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import type { Logger } from './logger.js';

interface GrpcClientLike {
  getChannel(): { getTarget(): string };
}
type ExtractNetMetadata = (client: GrpcClientLike, span: Span) => void;

/**
 * A GrpcInstrumentation that reports each call's channel target before the
 * propagator injects. instrumentation-grpc offers no per-call hook with the
 * target, but every client path (make*Request and generated clients) calls
 * its private `extractNetMetadata(client, span)` just before injecting, so we
 * wrap it on this instance. The version is pinned and the test suite covers
 * it; if the method ever disappears, the propagator fails closed for gRPC.
 */
export function createGrpcInstrumentation(
  onTarget: (target: string, span: Span) => void,
  logger: Logger,
): GrpcInstrumentation {
  const instrumentation = new GrpcInstrumentation();
  const original: unknown = Reflect.get(instrumentation, 'extractNetMetadata');
  if (typeof original !== 'function') {
    logger.warn('detour propagation: this @opentelemetry/instrumentation-grpc has no extractNetMetadata; gRPC calls will not carry headers');
    return instrumentation;
  }
  const wrapped: ExtractNetMetadata = function (this: unknown, client, span) {
    try {
      onTarget(client.getChannel().getTarget(), span);
    } catch (err) {
      logger.warn(`detour propagation: gRPC target check failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return (original as ExtractNetMetadata).call(this, client, span);
  };
  Reflect.set(instrumentation, 'extractNetMetadata', wrapped);
  return instrumentation;
}
