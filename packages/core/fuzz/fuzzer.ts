import { compare } from './compare.js';
import type { Verdict } from './compare.js';
import { DETOUR_MAX_HEADER_BYTES, parseWithDetour } from './detour-side.js';
import { generateCase, piecesOf } from './generate.js';
import type { FuzzCase } from './generate.js';
import { LlhttpOracle } from './llhttp-side.js';
import type { ParseResult } from './parsed.js';
import { Prng } from './prng.js';

export interface CaseResult {
  /** The case number within its seed: `Prng.forCase(seed, index)` regenerates it. */
  index: number;
  fuzzCase: FuzzCase;
  verdict: Verdict;
  detour: ParseResult;
  llhttp: ParseResult;
}

/** How many connections the oracle parses at once: enough to amortize the event-loop turns it waits. */
const BATCH = 256;
/** Bound on the parser runs spent shrinking one difference. */
const MAX_SHRINK_RUNS = 4000;

/**
 * Runs generated cases through both parsers and compares them (the property
 * is in `compare.ts`, the allowed disagreements in `deviations.ts`).
 */
export class DifferentialFuzzer {
  readonly seed: number;
  readonly #oracle = new LlhttpOracle(DETOUR_MAX_HEADER_BYTES);

  constructor(seed: number) {
    this.seed = seed >>> 0;
  }

  /** Cases `[from, from + count)` of this seed, compared. */
  async run(from: number, count: number): Promise<CaseResult[]> {
    const out: CaseResult[] = [];
    for (let at = from; at < from + count; at += BATCH) {
      const cases: Array<{ index: number; fuzzCase: FuzzCase }> = [];
      for (let index = at; index < Math.min(at + BATCH, from + count); index++) cases.push({ index, fuzzCase: generateCase(Prng.forCase(this.seed, index)) });
      const results = await this.check(cases.map((c) => c.fuzzCase));
      for (let k = 0; k < cases.length; k++) out.push({ ...cases[k]!, ...results[k]! });
    }
    return out;
  }

  /** Compares both parsers on each case. */
  async check(cases: readonly FuzzCase[]): Promise<Array<{ verdict: Verdict; detour: ParseResult; llhttp: ParseResult }>> {
    const pieces = cases.map(piecesOf);
    const llhttp = await this.#oracle.parseAll(pieces);
    return pieces.map((p, k) => {
      const detour = parseWithDetour(p);
      return { verdict: compare(detour, llhttp[k]!, Buffer.concat(p)), detour, llhttp: llhttp[k]! };
    });
  }

  /**
   * A smaller case that shows the same difference: one read instead of several
   * where that keeps it, then greedily without chunks of bytes, halving the
   * chunk size down to one byte.
   */
  async shrink(original: FuzzCase, verdict: Verdict): Promise<FuzzCase> {
    const same = (v: Verdict) => v.kind === 'difference' && signature(v) === signature(verdict);
    let best = original;
    let runs = 0;
    const [whole] = await this.check([{ input: best.input, cuts: [] }]);
    runs++;
    if (same(whole!.verdict)) best = { input: best.input, cuts: [] };
    for (let size = Math.max(1, best.input.length >> 1); size >= 1 && runs < MAX_SHRINK_RUNS; ) {
      const candidates: FuzzCase[] = [];
      for (let at = 0; at < best.input.length; at += size) {
        const input = best.input.slice(0, at) + best.input.slice(at + size);
        candidates.push({ input, cuts: best.cuts.map((c) => Math.min(c, input.length)) });
      }
      const results = await this.check(candidates);
      runs += candidates.length;
      const found = results.findIndex((r) => same(r.verdict));
      if (found === -1) size >>= 1;
      else best = candidates[found]!;
    }
    return best;
  }

  close(): void {
    this.#oracle.close();
  }
}

/** What kind of difference a verdict is, without the bytes that vary: differences with one signature are one finding. */
export function signature(verdict: Verdict): string {
  if (verdict.kind !== 'difference') return verdict.kind;
  return verdict.what.replace(/"(?:[^"\\]|\\.)*"/g, '…').replace(/\[.*\]/g, '[…]').replace(/\d+/g, 'N');
}

/**
 * A latin1 string as a JavaScript expression: bytes outside printable ASCII
 * escaped, and long runs of one byte written as `.repeat(n)` so that an
 * overlong line stays readable.
 */
export function escapeBytes(input: string): string {
  const parts: string[] = [];
  let at = 0;
  for (const run of input.matchAll(/(.)\1{31,}/gs)) {
    if (run.index > at) parts.push(literal(input.slice(at, run.index)));
    parts.push(`${literal(run[1]!)}.repeat(${run[0].length})`);
    at = run.index + run[0].length;
  }
  if (at < input.length || parts.length === 0) parts.push(literal(input.slice(at)));
  return parts.join(' + ');
}

function literal(input: string): string {
  let out = "'";
  for (const ch of input) {
    const c = ch.charCodeAt(0);
    if (ch === '\r') out += '\\r';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === "'" || ch === '\\') out += `\\${ch}`;
    else if (c < 0x20 || c >= 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}
