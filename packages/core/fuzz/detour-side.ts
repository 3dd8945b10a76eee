import { BodyFramer, findHeadEnd, isDetourError, listFields, parseRequestHead, requestBodyKind } from '../src/index.js';
import type { ParseResult, ParsedRequest } from './parsed.js';

const CODE = 'DETOUR_ERR_AGENT_BAD_REQUEST';
const CR = 0x0d;
const LF = 0x0a;

/** The agent's default `maxHeaderBytes`. */
export const DETOUR_MAX_HEADER_BYTES = 32 * 1024;

/**
 * Runs detour's codec over `pieces` the way the agent's client connection
 * drives it (`packages/agent/src/client-connection.ts`; core cannot import the
 * agent, so the few steps are repeated here): empty lines before a request line
 * are skipped (RFC 9112 §2.2), the head is searched resumably, a head over
 * `maxHeaderBytes` is a 431, CONNECT is refused, and the body is framed by
 * `BodyFramer` with the leftovers kept for the next request.
 */
export function parseWithDetour(pieces: readonly Buffer[], maxHeaderBytes = DETOUR_MAX_HEADER_BYTES): ParseResult {
  const requests: ParsedRequest[] = [];
  let buf = Buffer.alloc(0);
  /** The input offset of `buf[0]`. */
  let base = 0;
  let start = 0;
  /** The input offset where the current request starts, after any empty lines. */
  let at = 0;
  let scanned = 0;
  let framer: BodyFramer | undefined;
  let current: ParsedRequest | undefined;
  let keepAlive = true;
  try {
    for (const piece of pieces) {
      base += start;
      buf = Buffer.concat([buf.subarray(start), piece]);
      scanned = Math.max(0, scanned - start);
      start = 0;
      for (let guard = 0; guard < 10_000 && start < buf.length; guard++) {
        if (framer === undefined) {
          while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;
          if (start === buf.length) break;
          at = base + start;
          const end = findHeadEnd(buf, start, scanned, buf.length, CODE);
          if (end === -1) {
            if (buf.length - start >= maxHeaderBytes) return { requests, outcome: { kind: 'rejected', index: requests.length, at, reason: 'request head too large (431)' } };
            scanned = Math.max(start, buf.length - 3);
            break;
          }
          if (end - start > maxHeaderBytes) return { requests, outcome: { kind: 'rejected', index: requests.length, at, reason: 'request head too large (431)' } };
          const head = parseRequestHead(buf, start, end);
          if (head.method === 'CONNECT') return { requests, outcome: { kind: 'rejected', index: requests.length, at, reason: 'CONNECT is not supported by the agent' } };
          const request: ParsedRequest = {
            method: head.method,
            target: head.target,
            minor: head.minor,
            headers: listFields(buf, start, end),
            body: '',
            trailers: [],
            complete: false,
          };
          requests.push(request);
          current = request;
          framer = new BodyFramer(requestBodyKind(head), head.contentLength, {
            code: CODE,
            onData: (b, s, e) => {
              request.body += b.toString('latin1', s, e);
            },
          });
          if (head.upgrade) {
            // node:http hands what follows an upgrade request's head to its 'upgrade'
            // listener unparsed, so only the head can be compared (see llhttp-side.ts).
            request.complete = true;
            return { requests, outcome: { kind: 'stopped', index: requests.length - 1, headOnly: true } };
          }
          keepAlive = head.keepAlive;
          start = end;
          scanned = end;
        } else {
          start = framer.consume(buf, start, buf.length);
        }
        if (framer.done && current !== undefined) {
          current.trailers = framer.trailers();
          current.complete = true;
          framer = undefined;
          current = undefined;
          if (!keepAlive) return { requests, outcome: { kind: 'stopped', index: requests.length - 1, headOnly: false } };
          scanned = start;
        }
      }
    }
  } catch (err) {
    if (!isDetourError(err)) throw err;
    const index = current !== undefined ? requests.length - 1 : requests.length;
    return { requests, outcome: { kind: 'rejected', index, at, reason: err.message } };
  }
  const pending = framer !== undefined || start < buf.length;
  return { requests, outcome: pending ? { kind: 'partial' } : { kind: 'clean' } };
}

