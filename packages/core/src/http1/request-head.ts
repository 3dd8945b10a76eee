import { CR, LF, SP, TARGET, TCHAR } from './chars.js';
import { FieldNameSet } from './field-names.js';
import { malformed } from './field-lines.js';
import { HeadFields } from './head-fields.js';
import { checkRequestTarget } from './request-target.js';

const CODE = 'DETOUR_ERR_AGENT_BAD_REQUEST';

/** A parsed request head. Offsets index the buffer it was parsed from. */
export interface RequestHead {
  method: string;
  /** The request-target exactly as sent (RFC 9112 §3.2). */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Index after the head's final CRLF. */
  end: number;
  /** Content-Length, or -1. */
  contentLength: number;
  chunked: boolean;
  /** Whether the client allows the connection to persist after this request (RFC 9112 §9.3). */
  keepAlive: boolean;
  /** Whether the request asks to switch protocols (Upgrade plus `Connection: upgrade`, RFC 9110 §7.8). */
  upgrade: boolean;
  expectContinue: boolean;
  /** The Host value, or undefined. */
  host: string | undefined;
  /** Lines to cut out (hop-by-hop and relay-owned fields) as `[lineStart, lineEnd, kind]` triples, or undefined: then the head can be forwarded as is. */
  hopByHop: number[] | undefined;
  /** Values of the fields named in the capture set, or undefined when none was present. */
  captured: ReadonlyMap<string, readonly string[]> | undefined;
}

function internMethod(buf: Buffer, start: number, end: number): string {
  // The common methods get a shared string: no allocation on the hot path.
  if (end - start === 3 && buf[start] === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
  if (end - start === 4 && buf[start] === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54) return 'POST';
  return buf.toString('latin1', start, end);
}

/**
 * Parses a complete request head `buf[start, end)` (as found by `findHeadEnd`).
 * Throws `DETOUR_ERR_AGENT_BAD_REQUEST` on anything RFC 9112 does not allow a
 * server to accept, including the framing conflicts of RFC 9112 §6.1/§6.3.
 * `capture` names the fields whose values the caller wants (lower case).
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, capture: FieldNameSet = FieldNameSet.EMPTY): RequestHead {
  let i = start;
  while (i < end && TCHAR[buf[i]!] === 1) i++;
  if (i === start || buf[i] !== SP) malformed(CODE, i === start ? 'invalid method' : 'invalid request line');
  const method = internMethod(buf, start, i);
  const targetStart = ++i;
  while (i < end && TARGET[buf[i]!] === 1) i++;
  if (i === targetStart || buf[i] !== SP) {
    malformed(CODE, i === targetStart ? 'invalid request-target' : buf[i] === CR ? 'missing HTTP version' : 'invalid request line');
  }
  checkRequestTarget(buf, targetStart, i, method === 'CONNECT', CODE);
  const target = buf.toString('latin1', targetStart, i);
  i++;
  // RFC 9112 §2.3: HTTP-version is case-sensitive; we speak 1.0 and 1.1 only.
  if (
    i + 10 > end ||
    buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 ||
    buf[i + 4] !== 0x2f || buf[i + 5] !== 0x31 || buf[i + 6] !== 0x2e ||
    (buf[i + 7] !== 0x30 && buf[i + 7] !== 0x31) ||
    buf[i + 8] !== CR || buf[i + 9] !== LF
  ) {
    malformed(CODE, 'unsupported or malformed HTTP version');
  }
  const minor = buf[i + 7]! - 0x30;
  const fields = new HeadFields(buf, CODE, capture);
  const next = fields.parse(i + 10, end);
  if (next !== end) malformed(CODE, 'unexpected bytes after head');
  if (minor === 1 && fields.hostStart === -1) malformed(CODE, 'missing Host'); // RFC 9112 §3.2
  if (fields.transferEncoding) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing; RFC 9112 §6.3:
    // a request whose final coding is not chunked has no determinable length: 400.
    if (minor === 0) malformed(CODE, 'Transfer-Encoding in an HTTP/1.0 request');
    if (!fields.chunked) malformed(CODE, 'final transfer coding of a request must be chunked');
  }
  return {
    method,
    target,
    minor,
    end,
    contentLength: fields.contentLength,
    chunked: fields.chunked,
    keepAlive: !fields.connectionClose && (minor === 1 || fields.connectionKeepAlive),
    upgrade: fields.connectionUpgrade && fields.hasUpgradeField,
    expectContinue: fields.expectContinue,
    host: fields.hostStart === -1 ? undefined : buf.toString('latin1', fields.hostStart, fields.hostEnd),
    hopByHop: fields.hopByHop,
    captured: fields.captured,
  };
}

/**
 * The path a route matches: the request-target without its query (RFC 9112 §3.2).
 * Absolute-form targets lose their scheme and authority; asterisk and authority
 * forms are returned as they are.
 */
export function targetPath(target: string): string {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f) {
    const scheme = target.indexOf('://');
    if (scheme === -1) return target;
    start = target.indexOf('/', scheme + 3);
    if (start === -1) return '/';
  }
  const query = target.indexOf('?', start);
  if (query === -1) return start === 0 ? target : target.slice(start);
  return target.slice(start, query);
}
