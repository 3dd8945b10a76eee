// Pure logic without I/O: settings, egress policy, gRPC targets, header
// values, and the propagator's inject/extract rules on real carriers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT_CONTEXT, defaultTextMapGetter, defaultTextMapSetter, propagation, trace } from '@opentelemetry/api';
import { Metadata } from '@grpc/grpc-js';
import { getCarried, withCarried } from '../src/carried-headers.js';
import { createEgressPolicy } from '../src/egress-policy.js';
import { optionsFromEnv } from '../src/env-options.js';
import { ERROR_CODES, isPropagationError } from '../src/errors.js';
import { hostsOfGrpcTarget } from '../src/grpc-target.js';
import { HeaderPropagator } from '../src/header-propagator.js';
import { normalizeHeaderValue } from '../src/header-value.js';
import { SILENT_LOGGER } from '../src/logger.js';
import { resolveConfig } from '../src/options.js';
import { OutboundDecisions } from '../src/outbound-decisions.js';
import { StatsCounter } from '../src/stats.js';

test('default egress policy allows only cluster-internal hosts', () => {
  const policy = createEgressPolicy([]);
  for (const host of ['quote', 'localhost', 'api.default.svc', 'api.default.svc.cluster.local', '127.0.0.1', '10.1.2.3',
    '172.20.0.1', '192.168.1.1', '::1', '[::1]', 'fd00::1', '::ffff:10.0.0.1', 'web.localhost', 'api.default.svc.cluster.local.']) {
    assert.equal(policy.allows(host), true, host);
  }
  for (const host of ['api.stripe.com', 'example.com', '8.8.8.8', '169.254.169.254', '172.32.0.1', '2001:db8::1', '', 'svc.evil.com']) {
    assert.equal(policy.allows(host), false, host);
  }
});

test('allowHosts adds exact names, suffixes, IPs and CIDRs; "*" allows all', () => {
  const policy = createEgressPolicy(['api.partner.io', '.corp.example', '*.internal.example', '100.64.0.0/10', '203.0.113.7']);
  for (const host of ['api.partner.io', 'x.corp.example', 'a.b.internal.example', '100.64.3.4', '203.0.113.7']) {
    assert.equal(policy.allows(host), true, host);
  }
  for (const host of ['www.partner.io', 'corp.example.com', '203.0.113.8']) assert.equal(policy.allows(host), false, host);
  assert.equal(createEgressPolicy(['*']).allows('api.stripe.com'), true);
});

test('gRPC targets are reduced to their hosts', () => {
  assert.deepEqual(hostsOfGrpcTarget('dns:quote.default.svc:50051'), ['quote.default.svc']);
  assert.deepEqual(hostsOfGrpcTarget('dns:///pubsub.googleapis.com:443'), ['pubsub.googleapis.com']);
  assert.deepEqual(hostsOfGrpcTarget('dns://8.8.8.8/api.example.com:443'), ['api.example.com']);
  assert.deepEqual(hostsOfGrpcTarget('ipv4:10.0.0.1:80,10.0.0.2:80'), ['10.0.0.1', '10.0.0.2']);
  assert.deepEqual(hostsOfGrpcTarget('ipv6:[::1]:50051'), ['::1']);
  assert.deepEqual(hostsOfGrpcTarget('127.0.0.1:50051'), ['127.0.0.1']);
  assert.deepEqual(hostsOfGrpcTarget('unix:/run/app.sock'), ['localhost']);
  assert.deepEqual(hostsOfGrpcTarget('dns://resolver-only'), []);
});

test('header values: first of repeated values, printable ASCII, length-capped', () => {
  assert.equal(normalizeHeaderValue('alice', 256), 'alice');
  assert.equal(normalizeHeaderValue('a, b', 256), 'a');
  assert.equal(normalizeHeaderValue(['x', 'y'], 256), 'x');
  assert.equal(normalizeHeaderValue('  ', 256), undefined);
  assert.equal(normalizeHeaderValue('al\u00e9', 256), undefined);
  assert.equal(normalizeHeaderValue('a'.repeat(257), 256), undefined);
  assert.equal(normalizeHeaderValue(undefined, 256), undefined);
});

test('settings: every problem is reported at once with a stable code', () => {
  assert.throws(
    () => resolveConfig({ headers: ['Bad Header', 'baggage'], baggageKey: 'a b', allowHosts: ['http://x'], selfTest: 'loud' as 'off', extra: 1 } as never),
    (err: unknown) => {
      assert.ok(isPropagationError(err));
      assert.equal(err.code, ERROR_CODES.CONFIG);
      for (const part of ['unknown option "extra"', '"bad header" is not usable', '"baggage" is carried by OpenTelemetry',
        'baggageKey', 'allowHosts: "http://x"', 'selfTest']) {
        assert.ok(err.message.includes(part), part);
      }
      return true;
    },
  );
  const config = resolveConfig(optionsFromEnv({ DETOUR_PROPAGATE_HEADERS: 'X-Dev-Route, x-telepresence-id', DETOUR_PROPAGATE_ALLOW_HOSTS: '.corp.example' }));
  assert.deepEqual(config.headers, ['x-dev-route', 'x-telepresence-id']);
  assert.deepEqual(config.allowHosts, ['.corp.example']);
  assert.equal(Object.isFrozen(config), true);
  assert.deepEqual(resolveConfig().headers, ['x-telepresence-id']);
});

function makePropagator(): { propagator: HeaderPropagator; decisions: OutboundDecisions; stats: StatsCounter } {
  const decisions = new OutboundDecisions();
  const stats = new StatsCounter();
  const config = resolveConfig({ headers: ['x-telepresence-id', 'x-dev-route'] });
  return { propagator: new HeaderPropagator(config, decisions, stats, SILENT_LOGGER), decisions, stats };
}

test('propagator: extract keeps only valid values; inject skips app-set and withheld headers', () => {
  const { propagator, decisions, stats } = makePropagator();
  const ctx = propagator.extract(ROOT_CONTEXT, { 'x-telepresence-id': 'alice', 'x-dev-route': 'bad\u0001' }, defaultTextMapGetter);
  assert.deepEqual(getCarried(ctx), { 'x-telepresence-id': 'alice' });
  assert.equal(propagator.extract(ROOT_CONTEXT, {}, defaultTextMapGetter), ROOT_CONTEXT);

  const plain: Record<string, string> = {};
  propagator.inject(ctx, plain, defaultTextMapSetter);
  assert.deepEqual(plain, { 'x-telepresence-id': 'alice' });

  const appSet: Record<string, string> = { 'X-Telepresence-Id': 'manual' };
  propagator.inject(ctx, appSet, defaultTextMapSetter);
  assert.deepEqual(appSet, { 'X-Telepresence-Id': 'manual' });

  const span = trace.wrapSpanContext({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
  decisions.withhold(span, ['x-telepresence-id']);
  const withheld: Record<string, string> = {};
  propagator.inject(trace.setSpan(ctx, span), withheld, defaultTextMapSetter);
  assert.deepEqual(withheld, {});
  assert.deepEqual(stats.snapshot(), { receivedHeaders: 1, propagatedHeaders: 1, droppedHeaders: 1, appSetHeaders: 1 });
});

test('propagator: gRPC metadata gets the header only when the target was checked', () => {
  const { propagator, decisions } = makePropagator();
  const ctx = withCarried(ROOT_CONTEXT, { 'x-telepresence-id': 'alice' }, { header: 'x-telepresence-id', baggageKey: undefined });
  const setter = { set: (md: Metadata, key: string, value: string) => md.set(key, value) };
  const unchecked = new Metadata();
  propagator.inject(ctx, unchecked, setter);
  assert.deepEqual(unchecked.get('x-telepresence-id'), [], 'fails closed without a target check');

  const span = trace.wrapSpanContext({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
  decisions.checked(span);
  const checked = new Metadata();
  propagator.inject(trace.setSpan(ctx, span), checked, setter);
  assert.deepEqual(checked.get('x-telepresence-id'), ['alice']);
});

test('baggage mirroring puts the first header into the configured key', () => {
  const ctx = withCarried(ROOT_CONTEXT, { 'x-telepresence-id': 'alice' }, { header: 'x-telepresence-id', baggageKey: 'devid' });
  assert.equal(propagation.getBaggage(ctx)?.getEntry('devid')?.value, 'alice');
});

test('issue 13: a signed routing value (name.expiry.keyId.mac, base64url) is carried byte for byte', () => {
  const { propagator } = makePropagator();
  const signed = 'alice-3f9c0a.1796190000.Q2x_0.kX3-_b9ZqJw1dP0sVtR8hA';
  const ctx = propagator.extract(ROOT_CONTEXT, { 'x-telepresence-id': signed }, defaultTextMapGetter);
  const outbound: Record<string, string> = {};
  propagator.inject(ctx, outbound, defaultTextMapSetter);
  assert.deepEqual(outbound, { 'x-telepresence-id': signed });
  const metadata = new Map<string, string>();
  propagator.inject(ctx, metadata, { set: (carrier, key, value) => carrier.set(key, value) });
  assert.equal(metadata.get('x-telepresence-id'), signed);
});

test('outbound proxy routes: single-label, *.svc and listed names go through the proxy; loopback and public names go direct', async () => {
  const { createProxyRoutes } = await import('../src/proxy-routing.js');
  const routes = createProxyRoutes(['.staging', 'billing.internal', '10.96.0.0/12']);
  for (const host of ['quote', 'QUOTE.', 'quote.staging', 'quote.other.svc', 'quote.other.svc.cluster.local', 'billing.internal', '10.96.0.1']) {
    assert.equal(routes.viaProxy(host), true, host);
  }
  for (const host of ['localhost', 'api.localhost', '127.0.0.1', '[::1]', 'example.com', 'quote.other', '10.0.0.1', '']) {
    assert.equal(routes.viaProxy(host), false, host);
  }
});

test('outboundProxy settings: DETOUR_OUTBOUND_PROXY and DETOUR_OUTBOUND_HOSTS; a bad URL or entry is reported', () => {
  const options = optionsFromEnv({ DETOUR_OUTBOUND_PROXY: 'http://127.0.0.1:4000', DETOUR_OUTBOUND_HOSTS: '.staging, Billing.internal' });
  assert.deepEqual(resolveConfig(options).outboundProxy, { url: 'http://127.0.0.1:4000', hosts: ['.staging', 'billing.internal'] });
  assert.throws(
    () => resolveConfig({ outboundProxy: { url: 'socks5://127.0.0.1:1', hosts: ['*', 'bad host'] } }),
    (err: unknown) => isPropagationError(err) && /outboundProxy\.url: "socks5:\/\/127\.0\.0\.1:1".*outboundProxy\.hosts: "\*".*"bad host"/.test(err.message),
  );
});
