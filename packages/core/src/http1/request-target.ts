import type { ErrorCode } from '@detour/protocol';
import { ALPHA, AUTHORITY } from './chars.js';
import { malformed } from './field-lines.js';

/**
 * Checks that the request-target `buf[start, end)` (already known to be
 * visible ASCII) has one of the four forms of RFC 9112 §3.2, and refuses it
 * otherwise, as RFC 9112 §3 lets a server do with an invalid request-line:
 * - origin-form, "/" and the rest of a path and query;
 * - absolute-form, whose scheme is letters only (http, https: the schemes a
 *   proxy can act on, RFC 9110 §4.2) followed by "://" and a non-empty
 *   authority (RFC 9110 §4.2.1: an http URI with an empty host is invalid),
 *   then nothing or a path or query;
 * - authority-form, for CONNECT only (RFC 9112 §3.2.3);
 * - asterisk-form, exactly "*" (RFC 9112 §3.2.4).
 * A target of none of these ("h3", "?x", "urn:x") means different things to
 * different servers, which is all a smuggling or cache-poisoning attack needs.
 */
export function checkRequestTarget(buf: Buffer, start: number, end: number, isConnect: boolean, code: ErrorCode): void {
  const first = buf[start]!;
  if (isConnect) {
    if (authorityEnd(buf, start, end) !== end) malformed(code, 'invalid request-target for CONNECT');
    return;
  }
  if (first === 0x2f) return;
  if (first === 0x2a) {
    if (end - start !== 1) malformed(code, 'invalid request-target');
    return;
  }
  let i = start;
  while (i < end && ALPHA[buf[i]!] === 1) i++;
  if (i === start || i + 3 > end || buf[i] !== 0x3a || buf[i + 1] !== 0x2f || buf[i + 2] !== 0x2f) malformed(code, 'invalid request-target');
  const authority = i + 3;
  const after = authorityEnd(buf, authority, end);
  if (after === authority) malformed(code, 'empty authority in request-target');
  if (after !== end && buf[after] !== 0x2f && buf[after] !== 0x3f) malformed(code, 'invalid authority in request-target');
}

/** The index of the first byte from `start` that is not an authority byte. */
function authorityEnd(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && AUTHORITY[buf[i]!] === 1) i++;
  return i;
}
