// In-process cost of signed routing keys (`detour manager --signed-keys`, issue 13) on the
// matcher, in ns per request, without sockets: RouteTable.match with 1,000 personal
// intercepts, plain (exact values) and signed, for the values a request may carry. Run
// after `npx tsc -b`:
//   node bench/micro-signed-keys.mjs [millions]
// Rounds are interleaved and medians reported, since the machine may be shared.
import { randomBytes } from 'node:crypto';
import { RouteTable, RoutingKeyVerifier, signRoutingValue } from '../packages/core/dist/src/index.js';

const N = Math.round(Number(process.argv[2] ?? 2) * 1e6);
const ROUNDS = 7;
const HOUR_MS = 3_600_000;
const key = { id: 'k1', secret: randomBytes(32).toString('base64url') };
const intercepts = (signed) => Array.from({ length: 1000 }, (_, i) => ({
  id: `dev-${i}`, name: `dev-${i}`, service: 'api', paths: [], global: false, onDisconnect: 'fallback', mechanism: 'http', localPort: 1, createdAt: 1, sequence: i, online: true,
  owner: { sessionId: `s${i}`, name: `dev-${i}`, headerValue: `dev-${i}` },
  headers: [{ name: 'x-telepresence-id', op: 'equals', value: `dev-${i}`, ...(signed ? { signed: true } : {}) }],
}));
const verifier = new RoutingKeyVerifier();
verifier.setKeys([key]);
const plain = new RouteTable(intercepts(false));
const signed = new RouteTable(intercepts(true), verifier);
const cases = [
  ['plain: a value nobody intercepts (the scaling row)', plain, 'bench-nobody'],
  ['signed: a valid value of someone not intercepting', signed, signRoutingValue('bystander', Date.now() + HOUR_MS, key)],
  ['signed: a bare (unsigned) value', signed, 'bench-nobody'],
  ['plain: matched', plain, 'dev-7'],
  ['signed: matched', signed, signRoutingValue('dev-7', Date.now() + HOUR_MS, key)],
];
const samples = cases.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  cases.forEach(([, table, value], i) => {
    const input = { path: '/', headers: new Map([['x-telepresence-id', [value]]]) };
    let hits = 0;
    const t0 = process.hrtime.bigint();
    for (let n = 0; n < N; n++) if (table.match(input) !== undefined) hits++;
    samples[i].push(Number(process.hrtime.bigint() - t0) / N);
    if (hits !== 0 && hits !== N) throw new Error('inconsistent matching');
  });
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
cases.forEach(([label], i) => console.log(`${label.padEnd(52)} ${median(samples[i]).toFixed(0).padStart(5)} ns/match`));
