import { BodyFramer, findHeadEnd, parseRequestHead, requestBodyKind } from '../src/index.js';

/** One request as a streaming consumer sees it. */
export interface ParsedMessage {
  method: string;
  target: string;
  body: string;
  trailers: Array<[string, string]>;
}

/**
 * Feeds `pieces` to the codec the way the agent does (resumable head search,
 * head parse, body framing, leftovers kept for the next message) and returns
 * the messages. Throws the codec's error.
 */
export function parseStream(pieces: readonly Buffer[]): ParsedMessage[] {
  const out: ParsedMessage[] = [];
  let pending = Buffer.alloc(0);
  let scanned = 0;
  let framer: BodyFramer | undefined;
  let current: ParsedMessage | undefined;
  for (const piece of pieces) {
    pending = Buffer.concat([pending, piece]);
    let at = 0;
    for (let guard = 0; guard < 1000 && at < pending.length; guard++) {
      if (framer === undefined) {
        const end = findHeadEnd(pending, at, scanned, pending.length, 'DETOUR_ERR_AGENT_BAD_REQUEST');
        if (end === -1) {
          scanned = Math.max(at, pending.length - 3);
          break;
        }
        const head = parseRequestHead(pending, at, end);
        const message: ParsedMessage = { method: head.method, target: head.target, body: '', trailers: [] };
        current = message;
        framer = new BodyFramer(requestBodyKind(head), head.contentLength, {
          code: 'DETOUR_ERR_AGENT_BAD_REQUEST',
          onData: (buf, s, e) => {
            message.body += buf.toString('latin1', s, e);
          },
        });
        at = end;
        scanned = end;
      } else {
        at = framer.consume(pending, at, pending.length);
      }
      if (framer.done && current !== undefined) {
        current.trailers = framer.trailers();
        out.push(current);
        framer = undefined;
        current = undefined;
      }
    }
    pending = pending.subarray(at);
    scanned = Math.max(0, scanned - at);
  }
  return out;
}

/** Every way to cut `input` in two. */
export function* splits(input: Buffer): Generator<Buffer[]> {
  for (let cut = 0; cut <= input.length; cut++) yield [input.subarray(0, cut), input.subarray(cut)];
}

/** `input` one byte at a time. */
export function bytewise(input: Buffer): Buffer[] {
  return Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
}
