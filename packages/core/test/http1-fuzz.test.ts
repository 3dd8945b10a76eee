import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare } from '../fuzz/compare.js';
import { DifferentialFuzzer, escapeBytes } from '../fuzz/fuzzer.js';

/** A fixed seed, so that `npm test` always runs the same cases; `npm run fuzz` explores new ones. */
const SEED = 0x14;
const CASES = 4000;

test(`detour's request parser agrees with llhttp on ${CASES} generated requests (seed ${SEED})`, async (t) => {
  const fuzzer = new DifferentialFuzzer(SEED);
  t.after(() => fuzzer.close());
  const results = await fuzzer.run(0, CASES);
  const differences = results.filter((r) => r.verdict.kind === 'difference');
  const report = differences
    .slice(0, 5)
    .map((r) => `case ${r.index}: ${r.verdict.kind === 'difference' ? r.verdict.what : ''}\n  ${escapeBytes(r.fuzzCase.input)}`)
    .join('\n');
  assert.equal(differences.length, 0, `replay with: npm run fuzz -- --seed ${SEED} --case N\n${report}`);
  // The generator must reach both sides of the property, or the agreement means little.
  const accepted = results.filter((r) => r.verdict.kind === 'agree' && r.verdict.outcome === 'accepted').length;
  const refused = results.filter((r) => r.verdict.kind === 'agree' && r.verdict.outcome === 'refused').length;
  assert.ok(accepted > CASES / 20, `only ${accepted} cases accepted by both`);
  assert.ok(refused > CASES / 4, `only ${refused} cases refused by both`);
});

test('the comparison catches a field one parser saw and the other did not', async (t) => {
  // The llhttp side is real; the detour side is forged, as a parser bug cannot be had otherwise.
  const fuzzer = new DifferentialFuzzer(SEED);
  t.after(() => fuzzer.close());
  const [checked] = await fuzzer.check([{ input: 'GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\r\n', cuts: [] }]);
  assert.equal(checked!.verdict.kind, 'agree');
  const forged = { ...checked!.detour, requests: checked!.detour.requests.map((r) => ({ ...r, headers: [...r.headers, ['X', 'b'] as [string, string]] })) };
  assert.equal(compare(forged, checked!.llhttp, Buffer.alloc(0)).kind, 'difference');
});
