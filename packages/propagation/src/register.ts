import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { createEgressPolicy } from './egress-policy.js';
import { ERROR_CODES, PropagationError } from './errors.js';
import { installGlobalPropagator } from './global-propagator.js';
import { createGrpcInstrumentation } from './grpc-instrumentation.js';
import { guard } from './guard.js';
import { HeaderPropagator } from './header-propagator.js';
import { SILENT_LOGGER, type Logger } from './logger.js';
import { resolveConfig, type PropagationConfig, type PropagationOptions } from './options.js';
import { OutboundDecisions } from './outbound-decisions.js';
import { grpcTargetHook, httpRequestHook, undiciRequestHook, type OutboundHookDeps } from './outbound-hooks.js';
import { createProxyRoutes, installProxyRouting } from './proxy-routing.js';
import { runSelfTest, type SelfTestResult } from './self-test.js';
import { StatsCounter, type PropagationStats } from './stats.js';

/** A running registration, returned by `register()`. */
export interface Propagation {
  /** The validated settings in force. */
  readonly config: PropagationConfig;
  /**
   * Settles once the start-up self-check has run (right after the app's
   * synchronous start-up). Resolves with the result; in `strict` mode a failed
   * check rejects with DETOUR_ERR_PROPAGATION_SELF_TEST instead.
   */
  readonly selfTest: Promise<SelfTestResult>;
  /** Counters since registration. */
  stats(): PropagationStats;
  /** Removes the hooks and the propagator. Idempotent. */
  close(): Promise<void>;
}

interface Active {
  readonly handle: Propagation;
  readonly stats: StatsCounter;
}

let active: Active | undefined;

/** The registration in force, if any; the read-side API uses it. */
export function activeRegistration(): { readonly config: PropagationConfig; readonly stats: StatsCounter } | undefined {
  return active === undefined ? undefined : { config: active.handle.config, stats: active.stats };
}

/**
 * Starts propagation in this process: an AsyncLocalStorage context manager
 * (unless the app has one), our headers added to the global propagator
 * (composed with the app's, never replacing it), and http/https, fetch and
 * gRPC instrumentations. No tracer or exporter is needed. A second call
 * returns the first registration.
 *
 * @throws PropagationError DETOUR_ERR_PROPAGATION_CONFIG for invalid options;
 *   nothing is installed in that case.
 */
export function register(options: PropagationOptions = {}): Propagation {
  if (active !== undefined) {
    options.logger?.debug('detour propagation: already registered; keeping the first settings');
    return active.handle;
  }
  const config = resolveConfig(options);
  const logger = options.logger ?? SILENT_LOGGER;
  const stats = new StatsCounter();
  const decisions = new OutboundDecisions();

  const contextManager = new AsyncLocalStorageContextManager();
  // The API refuses a second manager; the app's (registered earlier) is kept.
  const ownsContextManager = context.setGlobalContextManager(contextManager.enable());
  if (!ownsContextManager) contextManager.disable();

  const propagator = new HeaderPropagator(config, decisions, stats, logger);
  const installed = installGlobalPropagator(propagator, config.baggageKey !== undefined, logger);

  // Calls that go through detour's outbound proxy reach the environment, so they carry the headers too (`quote.staging`).
  const routes = config.outboundProxy === undefined ? undefined : createProxyRoutes(config.outboundProxy.hosts);
  const internal = createEgressPolicy(config.allowHosts);
  const policy = routes === undefined ? internal : { allows: (host: string) => internal.allows(host) || routes.viaProxy(host) };
  const deps: OutboundHookDeps = { headers: config.headers, policy, decisions, stats, logger };
  const onHttp = httpRequestHook(deps);
  const onUndici = undiciRequestHook(deps);
  const onGrpc = grpcTargetHook(deps);
  const unload = registerInstrumentations({
    instrumentations: [
      new HttpInstrumentation({ requestHook: (span, req) => guard(logger, 'http hook', () => onHttp(span, req), undefined) }),
      new UndiciInstrumentation({ requestHook: (span, req) => guard(logger, 'fetch hook', () => onUndici(span, req), undefined) }),
      createGrpcInstrumentation((target, span) => guard(logger, 'gRPC hook', () => onGrpc(target, span), undefined), logger),
    ],
  });

  const routing = routes === undefined ? undefined : installProxyRouting(config.outboundProxy!.url, routes, logger);

  const selfTest = config.selfTest === 'off'
    ? Promise.resolve<SelfTestResult>({ ok: true, problems: [] })
    : scheduleSelfTest(config, logger);

  let closed: Promise<void> | undefined;
  const handle: Propagation = {
    config,
    selfTest,
    stats: () => stats.snapshot(),
    close: () => {
      closed ??= Promise.resolve().then(() => {
        unload();
        routing?.uninstall();
        installed.uninstall();
        if (ownsContextManager) context.disable();
        active = undefined;
      });
      return closed;
    },
  };
  active = { handle, stats };
  return handle;
}

// Deferred to the next turn so the app's own start-up (and any OpenTelemetry
// SDK it starts) has run first; the check then sees the final setup.
function scheduleSelfTest(config: PropagationConfig, logger: Logger): Promise<SelfTestResult> {
  return new Promise<SelfTestResult>((resolve) => {
    setImmediate(() => {
      runSelfTest(config.headers, config.selfTestTimeoutMs).then(resolve, (err: unknown) => {
        resolve({ ok: false, problems: [`self-check crashed: ${err instanceof Error ? err.message : String(err)}`] });
      });
    });
  }).then((result) => {
    if (result.ok) {
      logger.debug('detour propagation: self-check passed');
      return result;
    }
    const message = `detour propagation: self-check failed: ${result.problems.join('; ')}`;
    if (config.selfTest === 'strict') throw new PropagationError(ERROR_CODES.SELF_TEST, message);
    logger.warn(message);
    return result;
  });
}
