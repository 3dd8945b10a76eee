import { parseArgs } from 'node:util';
import { DEVIATIONS } from './deviations.js';
import { DifferentialFuzzer, escapeBytes, signature } from './fuzzer.js';
import type { CaseResult } from './fuzzer.js';

/**
 * `npm run fuzz -- --minutes N [--seed S]`: compares detour's HTTP/1.1 request
 * parser with llhttp for N minutes (or `--cases N`), prints the rate, the count
 * of each outcome and every difference (shrunk, with its bytes and seed), and
 * exits 1 when there is one. `--case K` replays case K of the seed alone.
 */
async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { minutes: { type: 'string' }, cases: { type: 'string' }, seed: { type: 'string' }, case: { type: 'string' } },
  });
  const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const fuzzer = new DifferentialFuzzer(seed);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (values.case !== undefined) return report(print, seed, await fuzzer.run(Number(values.case), 1), fuzzer, true);
    const deadlineMs = values.minutes !== undefined ? Date.now() + Number(values.minutes) * 60_000 : Number.POSITIVE_INFINITY;
    const maxCases = values.cases !== undefined ? Number(values.cases) : values.minutes !== undefined ? Number.POSITIVE_INFINITY : 10_000;
    print(`seed ${seed}; ${values.minutes !== undefined ? `${values.minutes} minute(s)` : `${maxCases} cases`}`);
    const started = Date.now();
    let lastProgress = started;
    const results: CaseResult[] = [];
    const counts = new Map<string, number>();
    let ran = 0;
    while (ran < maxCases && Date.now() < deadlineMs) {
      const batch = await fuzzer.run(ran, Math.min(1024, maxCases - ran));
      ran += batch.length;
      for (const r of batch) {
        const key = r.verdict.kind === 'agree' ? `agree: ${r.verdict.outcome}` : r.verdict.kind === 'deviation' ? `deviation: ${r.verdict.id}` : 'difference';
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (r.verdict.kind === 'difference') results.push(r);
      }
      if (Date.now() - lastProgress > 15_000) {
        lastProgress = Date.now();
        print(`  ${ran} cases, ${rate(ran, started)} cases/s, ${results.length} difference(s)`);
      }
    }
    print(`${ran} cases in ${((Date.now() - started) / 1000).toFixed(1)} s: ${rate(ran, started)} cases/s`);
    for (const [key, n] of [...counts].sort()) print(`  ${key.padEnd(40)} ${n}`);
    return report(print, seed, results, fuzzer, false);
  } finally {
    fuzzer.close();
  }
}

function rate(cases: number, startedMs: number): number {
  return Math.round(cases / Math.max(0.001, (Date.now() - startedMs) / 1000));
}

/** Prints each kind of difference once, shrunk; returns the exit code. */
async function report(print: (line: string) => void, seed: number, results: CaseResult[], fuzzer: DifferentialFuzzer, verbose: boolean): Promise<number> {
  const seen = new Map<string, number>();
  for (const r of results) seen.set(signature(r.verdict), (seen.get(signature(r.verdict)) ?? 0) + 1);
  const shown = new Set<string>();
  let differences = 0;
  for (const r of results) {
    if (verbose) print(`case ${r.index}: ${JSON.stringify(r.verdict)}\n  input ${escapeBytes(r.fuzzCase.input)} cuts ${JSON.stringify(r.fuzzCase.cuts)}\n  detour ${JSON.stringify(r.detour)}\n  llhttp ${JSON.stringify(r.llhttp)}`);
    if (r.verdict.kind !== 'difference') continue;
    differences++;
    const sig = signature(r.verdict);
    if (shown.has(sig)) continue;
    shown.add(sig);
    const small = await fuzzer.shrink(r.fuzzCase, r.verdict);
    const [again] = await fuzzer.check([small]);
    print(`\nDIFFERENCE (${seen.get(sig)} case(s) like it), first: --seed ${seed} --case ${r.index}`);
    print(`  ${again!.verdict.kind === 'difference' ? again!.verdict.what : r.verdict.what}`);
    print(`  bytes: ${escapeBytes(small.input)}${small.cuts.length > 0 ? `, read in pieces cut at ${JSON.stringify(small.cuts)}` : ''}`);
    if (small.input.length <= 512) print(`  hex:   ${Buffer.from(small.input, 'latin1').toString('hex')}`);
    print(`  detour: ${JSON.stringify(again!.detour.outcome)}; llhttp: ${JSON.stringify(again!.llhttp.outcome)}`);
  }
  if (differences === 0) {
    print(`no differences (allowed deviations: ${DEVIATIONS.map((d) => d.id).join(', ')})`);
    return 0;
  }
  print(`\n${differences} difference(s), ${shown.size} kind(s); seed ${seed}`);
  return 1;
}

process.exitCode = await main(process.argv.slice(2));
