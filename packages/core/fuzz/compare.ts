import { DEVIATIONS } from './deviations.js';
import type { ParseResult, ParsedRequest } from './parsed.js';

/** How the two parsers' results relate. */
export type Verdict =
  /** `upgrade`: detour passes an upgrade request on; its head is compared when llhttp delivered one, its body is not. */
  | { kind: 'agree'; outcome: 'accepted' | 'refused' | 'partial' | 'upgrade' }
  | { kind: 'deviation'; id: string }
  | { kind: 'difference'; index: number; what: string };

/**
 * The property: every request detour accepts, llhttp parses to the same
 * method, target, version, field lines (names, values, order), body content
 * and trailers, and the next request starts at the same byte (which the
 * request-by-request comparison checks); every request llhttp refuses, detour
 * refuses. A disagreement is allowed only as a listed deviation.
 */
export function compare(detour: ParseResult, llhttp: ParseResult, input: Buffer): Verdict {
  const d = detour.outcome;
  const l = llhttp.outcome;
  const stop = d.kind === 'stopped' ? d.index : Number.POSITIVE_INFINITY;
  for (let i = 0; i <= stop; i++) {
    const dr = detour.requests[i];
    const lr = llhttp.requests[i];
    if (d.kind === 'stopped' && d.headOnly && d.index === i) {
      // node:http reports an upgrade request only once its body is through, and
      // then hands the rest to the 'upgrade' listener: only the head can be compared.
      const mismatch = lr === undefined ? undefined : compareRequests(dr!, lr, true);
      return mismatch === undefined ? { kind: 'agree', outcome: 'upgrade' } : { kind: 'difference', index: i, what: mismatch };
    }
    const detourRefused = d.kind === 'rejected' && d.index === i;
    const llhttpRefused = l.kind === 'rejected' && l.index === i;
    if (detourRefused && llhttpRefused) return { kind: 'agree', outcome: 'refused' };
    if (detourRefused) {
      // A head detour refuses before llhttp has finished reading it: llhttp has accepted nothing yet.
      if (lr === undefined && l.kind === 'partial') return { kind: 'agree', outcome: 'refused' };
      const line = firstLine(input, d.at ?? 0);
      const deviation = DEVIATIONS.find((x) => x.detourRefuses?.test(d.reason) === true && (x.firstLine === undefined || x.firstLine(line)));
      if (deviation !== undefined) return { kind: 'deviation', id: deviation.id };
      return { kind: 'difference', index: i, what: `detour refuses (${d.reason}) what llhttp accepts` };
    }
    if (llhttpRefused) {
      // detour decides on a head when it is complete: one llhttp refused mid-way is not forwarded either.
      if (dr === undefined && d.kind === 'partial') return { kind: 'agree', outcome: 'refused' };
      const deviation = DEVIATIONS.find((x) => x.llhttpRefuses?.test(l.reason));
      if (deviation !== undefined) return { kind: 'deviation', id: deviation.id };
      return { kind: 'difference', index: i, what: `llhttp refuses (${l.reason}) what detour accepts` };
    }
    if (dr === undefined || lr === undefined) {
      if (dr !== lr) return { kind: 'difference', index: i, what: dr === undefined ? 'llhttp parsed a request detour did not see' : 'detour parsed a request llhttp did not see' };
      // detour holding the start of a head it has not judged yet (a lone CR, say) has forwarded nothing.
      if (d.kind === 'partial' && l.kind === 'clean') return { kind: 'agree', outcome: 'partial' };
      if (d.kind !== l.kind) return { kind: 'difference', index: i, what: `detour ends ${d.kind}, llhttp ends ${l.kind}` };
      return { kind: 'agree', outcome: d.kind === 'partial' ? 'partial' : 'accepted' };
    }
    const mismatch = compareRequests(dr, lr, false);
    if (mismatch !== undefined) return { kind: 'difference', index: i, what: mismatch };
  }
  return { kind: 'agree', outcome: 'accepted' };
}

function compareRequests(d: ParsedRequest, l: ParsedRequest, headOnly: boolean): string | undefined {
  if (d.method !== l.method) return `method ${JSON.stringify(d.method)} vs ${JSON.stringify(l.method)}`;
  if (d.target !== l.target) return `target ${JSON.stringify(d.target)} vs ${JSON.stringify(l.target)}`;
  if (d.minor !== l.minor) return `version 1.${d.minor} vs 1.${l.minor}`;
  const dh = JSON.stringify(d.headers);
  const lh = JSON.stringify(l.headers);
  if (dh !== lh) return `headers ${dh} vs ${lh}`;
  if (headOnly) return undefined;
  if (d.complete !== l.complete) return `request ${d.complete ? 'complete' : 'incomplete'} for detour, ${l.complete ? 'complete' : 'incomplete'} for llhttp`;
  if (d.body !== l.body) return `body ${JSON.stringify(d.body)} vs ${JSON.stringify(l.body)}`;
  const dt = JSON.stringify(d.trailers);
  const lt = JSON.stringify(l.trailers);
  if (dt !== lt) return `trailers ${dt} vs ${lt}`;
  return undefined;
}

/** The bytes from `at` up to the first LF that is not the first byte, as latin1. */
function firstLine(input: Buffer, at: number): string {
  const lf = input.indexOf(0x0a, at + 1);
  return input.toString('latin1', at, lf === -1 ? input.length : lf);
}
