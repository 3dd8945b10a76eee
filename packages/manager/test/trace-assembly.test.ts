import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Probe, Sighting, SightingEvidence } from '@detour/protocol';
import { assembleTrace } from '../src/trace-assembly.js';
import type { TraceInput } from '../src/trace-assembly.js';
import { ManagerState } from '../src/state.js';
import { TraceBook } from '../src/trace.js';

function seen(service: string, evidence: SightingEvidence, startedAt: number, endedAt: number, agentId = `${service}-1`): Sighting {
  return { agentId, service, path: '/', evidence, startedAt, endedAt };
}

function input(sightings: Sighting[]): TraceInput {
  return { id: 't1', service: 'web', path: '/', header: 'x-telepresence-id', value: 'detour-probe-1', probeStatus: 200, sightings };
}

const chain = (result: ReturnType<typeof assembleTrace>) => result.hops.map((h) => `${h.service}${h.headerSeen ? '+' : '-'}${h.droppedBy === undefined ? '' : `<${h.droppedBy}`}`);

test('every hop kept the header: the chain in start order, outcome propagated', () => {
  // Reports arrive in the order exchanges end (innermost first).
  const result = assembleTrace(input([seen('quote', 'header', 30, 40), seen('api', 'header', 20, 50), seen('web', 'header', 10, 60)]));
  assert.equal(result.outcome, 'propagated');
  assert.deepEqual(chain(result), ['web+', 'api+', 'quote+']);
});

test('a header-less request inside the window of the hop that had it is the dropped hop, named after its caller', () => {
  const result = assembleTrace(
    input([
      seen('pricing', 'none', 35, 38), // called by quote, which never had the header either
      seen('quote', 'none', 30, 40),
      seen('api', 'header', 20, 50),
      seen('web', 'header', 10, 60),
    ]),
  );
  assert.equal(result.outcome, 'dropped');
  // The innermost window containing quote's start is api's: api dropped it.
  assert.deepEqual(chain(result), ['web+', 'api+', 'quote-<api', 'pricing-<api']);
});

test('header-less traffic outside every window, or at a service seen with the header, is someone else\'s', () => {
  const result = assembleTrace(
    input([
      seen('quote', 'none', 5, 8), // before the probe started
      seen('quote', 'none', 70, 80), // after it ended
      seen('web', 'none', 15, 16, 'web-2'), // a replica of a service that had the header
      seen('api', 'header', 20, 50),
      seen('web', 'header', 10, 60),
    ]),
  );
  assert.equal(result.outcome, 'propagated');
  assert.deepEqual(chain(result), ['web+', 'api+']);
});

test('a traceparent match is part of the probe even outside the windows (clock skew)', () => {
  const result = assembleTrace(input([seen('quote', 'traceparent', 61, 62), seen('api', 'header', 20, 50), seen('web', 'header', 10, 60)]));
  assert.equal(result.outcome, 'dropped');
  assert.deepEqual(chain(result), ['web+', 'api+', 'quote-<api']);
  assert.equal(result.hops[2]!.evidence, 'traceparent');
});

test('only the traced service seen: first-hop-only', () => {
  const result = assembleTrace(input([seen('web', 'header', 10, 60)]));
  assert.equal(result.outcome, 'first-hop-only');
  assert.deepEqual(chain(result), ['web+']);
});

test('a service called twice appears once, at its first sighting; a sibling call after a return is attributed to the caller', () => {
  // web calls api (which returns at 30), then calls quote without the header at 40.
  const result = assembleTrace(
    input([seen('api', 'header', 20, 30), seen('api', 'header', 32, 34, 'api-2'), seen('quote', 'none', 40, 45), seen('web', 'header', 10, 60)]),
  );
  assert.deepEqual(chain(result), ['web+', 'api+', 'quote-<web']);
});

test('probes go to every service with an agent, in and out of the rule sets, bumping versions', () => {
  const state = new ManagerState({ leaseMs: 15_000, globalAllowed: true, now: () => 1_000 });
  state.addAgent({ id: 'api-1', service: 'api', listen: '127.0.0.1:1', protocol: 'http1' });
  state.addAgent({ id: 'web-1', service: 'web', listen: '127.0.0.1:2', protocol: 'http1' });
  assert.equal('probes' in state.ruleSet('api'), false);
  const before = state.ruleSet('api').version;
  const probe: Probe = { id: 'p1', header: 'x-telepresence-id', value: 'detour-probe-1', traceId: 'a'.repeat(32), until: 2_000 };
  assert.deepEqual([...state.addProbe(probe)].sort(), ['api', 'web']);
  assert.deepEqual(state.ruleSet('web').probes, [probe]);
  assert.ok(state.ruleSet('api').version > before);
  assert.deepEqual([...state.removeProbe('p1')].sort(), ['api', 'web']);
  assert.equal('probes' in state.ruleSet('web'), false);
  assert.deepEqual([...state.removeProbe('p1')], []);
});

test('the trace book refuses reports for unknown traces and resolves when the traced agent reports', async () => {
  const book = new TraceBook();
  assert.throws(() => book.record('nope', seen('web', 'header', 1, 2)), { code: 'DETOUR_ERR_TRACE_NOT_FOUND' });
  const probe: Probe = { id: 'p1', header: 'x-telepresence-id', value: 'v', traceId: 'b'.repeat(32), until: 2_000 };
  const trace = book.open(probe, 'web-1');
  book.record('p1', seen('api', 'header', 1, 2));
  book.record('p1', seen('web', 'header', 0, 3));
  await trace.firstSeen;
  assert.equal(trace.sightings.length, 2);
  book.close('p1');
  assert.equal(book.size, 0);
});
