import { CR, HTAB, LF, SP } from './chars.js';

const CRLF = '\r\n';

/**
 * Copies the head `buf[start, end)` without the lines in `ranges`
 * (`[lineStart, lineEnd, kind]` triples in head order) whose kind `drop`
 * accepts, adding `extra` (complete `name: value\r\n` lines) before the empty
 * line that ends the head, and copying `buf[end, tailEnd)` (e.g. a small body
 * read together with the head) after it, so that both leave in one write.
 * One allocation, one copy per kept span.
 */
export function omitLines(buf: Buffer, start: number, end: number, ranges: readonly number[], dropMask: number, extra = '', tailEnd = end): Buffer {
  let size = tailEnd - start + Buffer.byteLength(extra, 'latin1');
  for (let r = 0; r < ranges.length; r += 3) if ((dropMask >> ranges[r + 2]!) & 1) size -= ranges[r + 1]! - ranges[r]!;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  let from = start;
  for (let r = 0; r < ranges.length; r += 3) {
    if (((dropMask >> ranges[r + 2]!) & 1) === 0) continue;
    at += buf.copy(out, at, from, ranges[r]!);
    from = ranges[r + 1]!;
  }
  at += buf.copy(out, at, from, end - 2);
  at += out.write(extra, at, 'latin1');
  out[at] = CR;
  out[at + 1] = LF;
  if (tailEnd > end) buf.copy(out, at + 2, end, tailEnd);
  return out;
}

/** Serializes a head from a start line (without CRLF) and `[name, value]` fields; values must already be valid. */
export function serializeHead(startLine: string, fields: Iterable<readonly [string, string]>): Buffer {
  let text = startLine + CRLF;
  for (const [name, value] of fields) text += `${name}: ${value}${CRLF}`;
  return Buffer.from(text + CRLF, 'latin1');
}

/**
 * The field lines of a head that a parser has already validated, as raw
 * `[name, value]` pairs in order (the start line is skipped). Used off the hot
 * path, e.g. to translate a request into HTTP/2 headers.
 */
export function listFields(buf: Buffer, start: number, end: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = buf.indexOf(LF, start) + 1;
  while (i < end && buf[i] !== CR) {
    const lineEnd = buf.indexOf(LF, i);
    const colon = buf.indexOf(0x3a, i);
    let valueStart = colon + 1;
    let valueEnd = lineEnd - 1;
    // OWS is SP and HTAB only (RFC 9110 §5.6.3); String#trim would also eat obs-text 0xA0.
    while (valueStart < valueEnd && (buf[valueStart] === SP || buf[valueStart] === HTAB)) valueStart++;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    out.push([buf.toString('latin1', i, colon), buf.toString('latin1', valueStart, valueEnd)]);
    i = lineEnd + 1;
  }
  return out;
}
