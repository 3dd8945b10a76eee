import { DetourError } from '../errors.js';
import type { ErrorCode } from '@detour/protocol';
import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TCHAR } from './chars.js';
import { classifyField } from './field-names.js';
import type { FieldKind } from './field-names.js';

/** Receives each field line of a head or trailer section, as offsets into the buffer. */
export interface FieldSink {
  /**
   * `value` is trimmed of surrounding whitespace; `lineStart`/`lineEnd` span the
   * whole line including its CRLF, so that a proxy can cut it out.
   */
  field(kind: FieldKind, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number, lineStart: number, lineEnd: number): void;
}

/** Throws the parse error of one side of a connection: 400 for a client's request, 502 for an app's response. */
export function malformed(code: ErrorCode, message: string): never {
  throw new DetourError(code, message);
}

/**
 * Parses `*( field-line CRLF ) CRLF` (RFC 9112 §5) starting at `start`, which
 * must be complete within `[start, end)`. Returns the index after the final CRLF.
 *
 * Refused, because each lets two parsers disagree on where a field or a message
 * ends (request smuggling, RFC 9112 §11.2):
 * - obs-fold, a line starting with SP/HTAB (RFC 9112 §5.2);
 * - whitespace between the name and the colon (RFC 9112 §5.1: MUST reject with 400);
 * - a bare LF or CR, NUL and other controls in a value (RFC 9110 §5.5);
 * - a name that is not a token.
 */
export function parseFieldLines(buf: Buffer, start: number, end: number, code: ErrorCode, sink: FieldSink): number {
  let i = start;
  for (;;) {
    if (i >= end) malformed(code, 'header section is not terminated');
    const lineStart = i;
    let b = buf[i]!;
    if (b === CR) {
      if (i + 1 >= end || buf[i + 1] !== LF) malformed(code, 'bare CR in header section');
      return i + 2;
    }
    if (b === SP || b === HTAB) malformed(code, 'obsolete line folding (obs-fold) is not allowed');
    while (i < end && TCHAR[(b = buf[i]!)] === 1) i++;
    const nameEnd = i;
    if (i >= end) malformed(code, 'header line is not terminated');
    if (b !== COLON) {
      if (b === SP || b === HTAB) malformed(code, 'whitespace between header name and colon');
      if (b === LF) malformed(code, nameEnd === lineStart ? 'bare LF in header section' : 'header line has no colon');
      malformed(code, nameEnd === lineStart ? 'empty or invalid header name' : 'invalid character in header name');
    }
    if (nameEnd === lineStart) malformed(code, 'empty header name');
    i++;
    while (i < end && ((b = buf[i]!) === SP || b === HTAB)) i++;
    const valueStart = i;
    while (i < end && FIELD_VALUE[(b = buf[i]!)] === 1) i++;
    if (i + 1 >= end || b !== CR) malformed(code, b === LF ? 'bare LF in header value' : 'invalid character in header value');
    if (buf[i + 1] !== LF) malformed(code, 'bare CR in header value');
    let valueEnd = i;
    while (valueEnd > valueStart && ((b = buf[valueEnd - 1]!) === SP || b === HTAB)) valueEnd--;
    i += 2;
    sink.field(classifyField(buf, lineStart, nameEnd), lineStart, nameEnd, valueStart, valueEnd, lineStart, i);
  }
}

/**
 * Finds the end of a head (the index after CRLFCRLF) in `buf[start, end)`, or -1
 * when it has not arrived yet. `from` lets a caller resume where the previous
 * call stopped, so that a head trickling in byte by byte costs linear time.
 * Throws on a bare LF at once rather than waiting for a terminator that a
 * bare-LF client will never send.
 */
export function findHeadEnd(buf: Buffer, start: number, from: number, end: number, code: ErrorCode): number {
  let p = buf.indexOf(LF, Math.max(from, start));
  while (p !== -1 && p < end) {
    if (p === start || buf[p - 1] !== CR) malformed(code, 'bare LF in head');
    if (p - 3 >= start && buf[p - 2] === LF && buf[p - 3] === CR) return p + 1;
    p = buf.indexOf(LF, p + 1);
  }
  return -1;
}

/**
 * Parses a comma-separated list of tokens (RFC 9110 §5.6.1) and calls `visit`
 * with each element's bounds. Empty elements are skipped as the RFC requires;
 * an element that is not a token (optionally followed by `;` parameters, whose
 * presence is reported) is refused.
 */
export function forEachListToken(
  buf: Buffer,
  start: number,
  end: number,
  code: ErrorCode,
  visit: (tokenStart: number, tokenEnd: number, hasParameters: boolean) => void,
): void {
  let i = start;
  while (i < end) {
    let b = buf[i]!;
    if (b === 0x2c || b === SP || b === HTAB) {
      i++;
      continue;
    }
    const tokenStart = i;
    while (i < end && TCHAR[buf[i]!] === 1) i++;
    const tokenEnd = i;
    if (tokenEnd === tokenStart) malformed(code, 'invalid list element in header value');
    while (i < end && ((b = buf[i]!) === SP || b === HTAB)) i++;
    let hasParameters = false;
    if (i < end && buf[i] === 0x3b) {
      // Parameters (RFC 9110 §5.6.6) cannot contain a comma outside a quoted string;
      // the codings we interpret take none, so skipping to the next comma is enough.
      hasParameters = true;
      let quoted = false;
      while (i < end && (quoted || buf[i] !== 0x2c)) {
        if (buf[i] === 0x22) quoted = !quoted;
        else if (quoted && buf[i] === 0x5c) i++;
        i++;
      }
    } else if (i < end && buf[i] !== 0x2c) {
      malformed(code, 'invalid list element in header value');
    }
    visit(tokenStart, tokenEnd, hasParameters);
  }
}
