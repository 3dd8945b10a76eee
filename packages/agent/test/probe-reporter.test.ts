import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findHeadEnd, parseRequestHead } from '@detour/core';
import type { Probe, RuleSet } from '@detour/protocol';
import { ProbeReporter } from '../src/probe-reporter.js';
import { Router } from '../src/router.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const probe = (overrides: Partial<Probe> = {}): Probe => ({ id: 'p1', header: 'x-telepresence-id', value: 'detour-probe-1', traceId: TRACE_ID, until: Date.now() + 60_000, ...overrides });
const ruleSet = (probes?: Probe[]): RuleSet => ({ service: 'api', version: 1, intercepts: [], ...(probes === undefined ? {} : { probes }) });

function head(router: Router, lines: string[]) {
  const buf = Buffer.from(`GET /quote?sku=1 HTTP/1.1\r\nhost: api\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1');
  return parseRequestHead(buf, 0, findHeadEnd(buf, 0, 0, buf.length, 'DETOUR_ERR_AGENT_BAD_REQUEST'), router.capture);
}

function setup(probes?: Probe[]) {
  const posts: Array<{ path: string; body: { evidence: string; path: string; service: string; agentId: string } }> = [];
  const reporter = new ProbeReporter('api', 'api-1', { post: (path, body) => posts.push({ path, body: body as (typeof posts)[number]['body'] }) });
  const router = new Router({ service: 'api', agentId: 'api-1' });
  router.install(ruleSet(probes), reporter.watch(probes));
  return { router, reporter, posts };
}

test('without probes the router has no watch and captures nothing extra', () => {
  const { router } = setup();
  assert.equal(router.probes, undefined);
  assert.equal(router.capture.size, 0);
  assert.equal(head(router, ['x-telepresence-id: detour-probe-1']).captured, undefined);
});

test('a request is tied to the probe by its header, else by its traceparent, else reported as untagged; the report is sent at the end', () => {
  const { router, posts } = setup([probe()]);
  const tagged = router.probes!.observe(head(router, ['x-telepresence-id: detour-probe-1']))!;
  const byTrace = router.probes!.observe(head(router, [`traceparent: 00-${TRACE_ID}-00f067aa0ba902b7-01`]))!;
  const untagged = router.probes!.observe(head(router, ['x-telepresence-id: someone-else']))!;
  assert.equal(posts.length, 0, 'nothing is sent before the exchange ends');
  tagged.end();
  byTrace.end();
  untagged.end();
  untagged.end(); // idempotent
  assert.deepEqual(
    posts.map((p) => [p.path, p.body.evidence, p.body.path, p.body.service, p.body.agentId]),
    [
      ['/v1/traces/p1/sightings', 'header', '/quote', 'api', 'api-1'],
      ['/v1/traces/p1/sightings', 'traceparent', '/quote', 'api', 'api-1'],
      ['/v1/traces/p1/sightings', 'none', '/quote', 'api', 'api-1'],
    ],
  );
});

test('untagged requests are capped per probe, and an expired probe is ignored', () => {
  const { router, posts } = setup([probe()]);
  for (let i = 0; i < 150; i++) router.probes!.observe(head(router, []))?.end();
  assert.equal(posts.length, 100);
  const expired = setup([probe({ until: Date.now() - 1 })]);
  assert.equal(expired.router.probes!.observe(head(expired.router, ['x-telepresence-id: detour-probe-1'])), undefined);
});

test('an HTTP/2 stream is tied to the probe from its raw field list, any repetition of the header counting', () => {
  const { router, posts } = setup([probe()]);
  const raw = (fields: string[]) => [':method', 'POST', ':path', '/detour.test.Echo/Unary?x=1', ...fields];
  router.probes!.observeStream('/detour.test.Echo/Unary?x=1', raw(['x-telepresence-id', 'other', 'x-telepresence-id', 'detour-probe-1']))!.end();
  router.probes!.observeStream('/detour.test.Echo/Unary', raw(['traceparent', `00-${TRACE_ID}-00f067aa0ba902b7-01`]))!.end();
  router.probes!.observeStream('/detour.test.Echo/Unary', raw([]))!.end();
  assert.deepEqual(
    posts.map((p) => [p.body.evidence, p.body.path]),
    [
      ['header', '/detour.test.Echo/Unary'],
      ['traceparent', '/detour.test.Echo/Unary'],
      ['none', '/detour.test.Echo/Unary'],
    ],
  );
});
