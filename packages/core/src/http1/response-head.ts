import { CR, FIELD_VALUE, LF, SP } from './chars.js';
import { FieldNameSet } from './field-names.js';
import { malformed } from './field-lines.js';
import { HeadFields } from './head-fields.js';

const CODE = 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE';

/** How a message body is delimited (RFC 9112 §6.3). */
export const BODY_KIND = { NONE: 0, LENGTH: 1, CHUNKED: 2, CLOSE: 3 } as const;
export type BodyKind = (typeof BODY_KIND)[keyof typeof BODY_KIND];

/** A parsed response head. Offsets index the buffer it was parsed from. */
export interface ResponseHead {
  status: number;
  minor: number;
  /** Index after the head's final CRLF. */
  end: number;
  contentLength: number;
  /** Whether Transfer-Encoding was present; with `chunked` false the body is close-delimited. */
  transferEncoding: boolean;
  chunked: boolean;
  /** Whether the server lets the connection persist (RFC 9112 §9.3). */
  keepAlive: boolean;
  hopByHop: number[] | undefined;
}

/**
 * Parses a complete response head `buf[start, end)`. Errors carry
 * `DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE`: an app that answers garbage is, for
 * the client, an app the agent could not read (502).
 */
export function parseResponseHead(buf: Buffer, start: number, end: number): ResponseHead {
  let i = start;
  if (
    i + 12 > end ||
    buf[i] !== 0x48 || buf[i + 1] !== 0x54 || buf[i + 2] !== 0x54 || buf[i + 3] !== 0x50 ||
    buf[i + 4] !== 0x2f || buf[i + 5] !== 0x31 || buf[i + 6] !== 0x2e ||
    (buf[i + 7] !== 0x30 && buf[i + 7] !== 0x31) || buf[i + 8] !== SP
  ) {
    malformed(CODE, 'unsupported or malformed HTTP version in response');
  }
  const minor = buf[i + 7]! - 0x30;
  i += 9;
  let status = 0;
  for (let k = 0; k < 3; k++) {
    const d = buf[i + k]! - 0x30;
    if (d < 0 || d > 9) malformed(CODE, 'invalid status code');
    status = status * 10 + d;
  }
  if (status < 100) malformed(CODE, 'invalid status code');
  i += 3;
  // RFC 9112 §4: SP reason-phrase, where the phrase may be empty; some servers
  // omit the SP as well, which is harmless and accepted.
  if (buf[i] === SP) {
    i++;
    while (i < end && FIELD_VALUE[buf[i]!] === 1) i++;
  }
  if (buf[i] !== CR || buf[i + 1] !== LF) malformed(CODE, 'invalid status line');
  const fields = new HeadFields(buf, CODE, FieldNameSet.EMPTY);
  const next = fields.parse(i + 2, end);
  if (next !== end) malformed(CODE, 'unexpected bytes after response head');
  return {
    status,
    minor,
    end,
    contentLength: fields.contentLength,
    transferEncoding: fields.transferEncoding,
    chunked: fields.chunked,
    keepAlive: !fields.connectionClose && (minor === 1 || fields.connectionKeepAlive),
    hopByHop: fields.hopByHop,
  };
}

/**
 * The framing of a response body per RFC 9112 §6.3: none for HEAD, 1xx, 204
 * and 304; chunked when it is the final coding; close-delimited for any other
 * coding; else Content-Length; else read until close.
 */
export function responseBodyKind(head: ResponseHead, requestMethod: string): BodyKind {
  if (requestMethod === 'HEAD' || head.status < 200 || head.status === 204 || head.status === 304) return BODY_KIND.NONE;
  if (head.transferEncoding) return head.chunked ? BODY_KIND.CHUNKED : BODY_KIND.CLOSE;
  if (head.contentLength !== -1) return head.contentLength === 0 ? BODY_KIND.NONE : BODY_KIND.LENGTH;
  return BODY_KIND.CLOSE;
}

/** The framing of a request body per RFC 9112 §6.3: a request without either field has none. */
export function requestBodyKind(head: { chunked: boolean; contentLength: number }): BodyKind {
  if (head.chunked) return BODY_KIND.CHUNKED;
  return head.contentLength > 0 ? BODY_KIND.LENGTH : BODY_KIND.NONE;
}
