// In-process cost of the agent's metrics on the unmatched hot path, in ns per
// request, without sockets: N routing decisions with no rules (the unmatched
// path) and one latency observation each. Run after `npx tsc -b`:
//   node bench/micro-metrics.mjs [millions]
// Compares: no metrics; the RouteObserver the agent uses (plain counts, read
// by prom-client at scrape time); counting by subscribing to
// `detour:agent:route` instead; and prom-client's own bound children
// (`labels()` once, `inc()`/`observe()` per request). Rounds are interleaved
// and medians reported, since the machine may be shared.
import diagnostics from 'node:diagnostics_channel';
import { Counter, Histogram, Registry } from 'prom-client';
import { Router } from '../packages/agent/dist/src/router.js';
import { AgentMetrics } from '../packages/agent/dist/src/metrics.js';
import { LATENCY_BUCKETS_SECONDS } from '../packages/agent/dist/src/latency-recorder.js';

const N = Math.round(Number(process.argv[2] ?? 2) * 1e6);
const ROUNDS = 7;
const identity = { service: 'orders', agentId: 'orders-1' };
const sources = { openConnections: async () => 0, managerConnected: () => true, ruleSetVersion: () => 1 };
const fields = new Map([['x-telepresence-id', ['alice']]]);

function time(run) {
  const start = performance.now();
  run();
  return ((performance.now() - start) * 1e6) / N;
}

const variants = {
  'decide, no metrics': () => {
    const router = new Router(identity);
    return () => { for (let i = 0; i < N; i++) router.decide('GET', '/x', fields, true); };
  },
  'decide + RouteObserver (the agent)': () => {
    const router = new Router(identity, new AgentMetrics(sources));
    return () => { for (let i = 0; i < N; i++) router.decide('GET', '/x', fields, true); };
  },
  'decide + channel subscriber counting': () => {
    const router = new Router(identity);
    const counts = { app: 0, intercept: 0, fallback: 0, offline: 0 };
    const onRoute = (event) => { counts[event.route] += 1; };
    return {
      run: () => {
        diagnostics.subscribe('detour:agent:route', onRoute);
        try { for (let i = 0; i < N; i++) router.decide('GET', '/x', fields, true); } finally { diagnostics.unsubscribe('detour:agent:route', onRoute); }
      },
    };
  },
  'decide + prom-client bound Counter child': () => {
    const counter = new Counter({ name: 'c_total', help: 'c', labelNames: ['route'], registers: [new Registry()] });
    const children = { app: counter.labels('app'), intercept: counter.labels('intercept'), fallback: counter.labels('fallback'), offline: counter.labels('offline') };
    const router = new Router(identity, { routed: (route) => children[route.kind].inc(), refused: () => undefined });
    return () => { for (let i = 0; i < N; i++) router.decide('GET', '/x', fields, true); };
  },
  'latency: 2×performance.now + LatencyRecorder (the agent)': () => {
    const recorder = new AgentMetrics(sources).toApp;
    return () => { for (let i = 0; i < N; i++) { const t0 = performance.now(); recorder.observe((performance.now() - t0) / 1e3 + 0.0002); } };
  },
  'latency: 2×performance.now + prom-client Histogram child': () => {
    const child = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['destination'], buckets: [...LATENCY_BUCKETS_SECONDS], registers: [new Registry()] }).labels('app');
    return () => { for (let i = 0; i < N; i++) { const t0 = performance.now(); child.observe((performance.now() - t0) / 1e3 + 0.0002); } };
  },
};

const runs = Object.fromEntries(Object.entries(variants).map(([name, make]) => {
  const made = make();
  return [name, { run: typeof made === 'function' ? made : made.run, ns: [] }];
}));
for (let round = 0; round < ROUNDS; round++) {
  for (const entry of Object.values(runs)) entry.ns.push(time(entry.run));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${N / 1e6} M operations × ${ROUNDS} interleaved rounds, median ns per operation (min..max)`);
for (const [name, { ns }] of Object.entries(runs)) {
  console.log(`${name.padEnd(58)} ${median(ns).toFixed(1).padStart(7)}  (${Math.min(...ns).toFixed(1)}..${Math.max(...ns).toFixed(1)})`);
}
