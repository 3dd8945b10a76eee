import type { ErrorCode } from '@detour/protocol';
import { CR, LF, SP } from './chars.js';
import { FIELD_KIND, FieldNameSet, equalsLower } from './field-names.js';
import type { FieldKind } from './field-names.js';
import { forEachListToken, malformed, parseFieldLines } from './field-lines.js';
import type { FieldSink } from './field-lines.js';

const CHUNKED = Buffer.from('chunked', 'latin1');
const CLOSE = Buffer.from('close', 'latin1');
const KEEP_ALIVE = Buffer.from('keep-alive', 'latin1');
const UPGRADE = Buffer.from('upgrade', 'latin1');
const CONTINUE = Buffer.from('100-continue', 'latin1');

/** 2^53 has 16 decimal digits; 15 keep every accepted length an exact integer. */
const MAX_LENGTH_DIGITS = 15;

/** Fields that a Connection option must never remove: the ones framing and routing depend on. */
const PROTECTED_OPTIONS = new Set(['content-length', 'transfer-encoding', 'host']);

/**
 * What both request and response heads share: framing (RFC 9112 §6), connection
 * options and the lines a proxy must cut out (RFC 9110 §7.6.1). Offsets only;
 * strings are made for the few values a caller needs.
 */
export class HeadFields implements FieldSink {
  readonly buf: Buffer;
  readonly code: ErrorCode;
  readonly capture: FieldNameSet;
  /** Content-Length, or -1 when absent. */
  contentLength = -1;
  /** Whether a Transfer-Encoding field was present at all. */
  transferEncoding = false;
  /** Whether the final transfer coding is chunked. */
  chunked = false;
  connectionClose = false;
  connectionKeepAlive = false;
  connectionUpgrade = false;
  hasUpgradeField = false;
  hostStart = -1;
  hostEnd = -1;
  expectContinue = false;
  /**
   * The lines a proxy cuts out, as `[lineStart, lineEnd, kind]` triples in head
   * order, or undefined when there are none: hop-by-hop fields (RFC 9110 §7.6.1)
   * and relay-owned ones (`FIELD_KIND.RELAY_OWNED`).
   */
  hopByHop: number[] | undefined;
  /** Values of captured fields by lower-case name, or undefined when none was present. */
  captured: Map<string, string[]> | undefined;
  #options: string[] | undefined;

  constructor(buf: Buffer, code: ErrorCode, capture: FieldNameSet) {
    this.buf = buf;
    this.code = code;
    this.capture = capture;
  }

  field(kind: FieldKind, nameStart: number, nameEnd: number, valueStart: number, valueEnd: number, lineStart: number, lineEnd: number): void {
    const buf = this.buf;
    if (this.capture.size !== 0) {
      const name = this.capture.lookup(buf, nameStart, nameEnd);
      if (name !== undefined) {
        this.captured ??= new Map();
        const value = buf.toString('latin1', valueStart, valueEnd);
        const values = this.captured.get(name);
        if (values === undefined) this.captured.set(name, [value]);
        else values.push(value);
      }
    }
    switch (kind) {
      case FIELD_KIND.OTHER:
        return;
      case FIELD_KIND.CONTENT_LENGTH:
        // RFC 9110 §8.6 lets a recipient reject a repeated Content-Length even when
        // the values agree; we do, so that no downstream parser sees two.
        if (this.contentLength !== -1) malformed(this.code, 'repeated Content-Length');
        this.contentLength = parseLength(buf, valueStart, valueEnd, this.code);
        // llhttp refuses "5\t": a trailing HTAB must not make two parsers read two lengths.
        if (!onlySpaces(buf, valueEnd, lineEnd - 2)) malformed(this.code, 'invalid Content-Length');
        return;
      case FIELD_KIND.TRANSFER_ENCODING:
        this.transferEncoding = true;
        forEachListToken(buf, valueStart, valueEnd, this.code, (s, e, hasParameters) => {
          const isChunked = e - s === CHUNKED.length && equalsLower(buf, s, CHUNKED);
          // RFC 9112 §7.1: chunked is applied at most once, and last; it takes no parameters.
          if (this.chunked) malformed(this.code, 'chunked is not the final transfer coding');
          if (isChunked && hasParameters) malformed(this.code, 'chunked transfer coding takes no parameters');
          // Nothing but SP may follow it either: "chunked," or "chunked\t" is final to a
          // lenient parser and not to llhttp, and a TE.TE smuggle lives in that gap (RFC 9112 §11.2).
          if (isChunked && !onlySpaces(buf, e, lineEnd - 2)) malformed(this.code, 'chunked is not the final transfer coding');
          this.chunked = isChunked;
        });
        return;
      case FIELD_KIND.HOST:
        // RFC 9112 §3.2: more than one Host line is a 400.
        if (this.hostStart !== -1) malformed(this.code, 'repeated Host');
        this.hostStart = valueStart;
        this.hostEnd = valueEnd;
        return;
      case FIELD_KIND.EXPECT:
        this.expectContinue = valueEnd - valueStart === CONTINUE.length && equalsLower(buf, valueStart, CONTINUE);
        return;
      case FIELD_KIND.CONNECTION:
        forEachListToken(buf, valueStart, valueEnd, this.code, (s, e) => {
          const length = e - s;
          if (length === CLOSE.length && equalsLower(buf, s, CLOSE)) this.connectionClose = true;
          else if (length === KEEP_ALIVE.length && equalsLower(buf, s, KEEP_ALIVE)) this.connectionKeepAlive = true;
          else if (length === UPGRADE.length && equalsLower(buf, s, UPGRADE)) this.connectionUpgrade = true;
          else (this.#options ??= []).push(buf.toString('latin1', s, e).toLowerCase());
        });
        break;
      case FIELD_KIND.UPGRADE:
        this.hasUpgradeField = true;
        break;
      default:
        break;
    }
    (this.hopByHop ??= []).push(lineStart, lineEnd, kind);
  }

  /** Runs the field lines, then the checks that need the whole section. */
  parse(start: number, end: number): number {
    const next = parseFieldLines(this.buf, start, end, this.code, this);
    if (this.transferEncoding && this.contentLength !== -1) {
      // RFC 9112 §6.1: a sender MUST NOT send both; treat it as smuggling.
      malformed(this.code, 'both Content-Length and Transfer-Encoding');
    }
    if (this.#options !== undefined) this.#markOptionLines(start, end, this.#options);
    return next;
  }

  /** Adds the lines named by Connection options (RFC 9110 §7.6.1) to `hopByHop`, keeping head order. */
  #markOptionLines(start: number, end: number, options: string[]): void {
    for (const option of options) {
      if (PROTECTED_OPTIONS.has(option)) malformed(this.code, `Connection must not list ${option}`);
    }
    const names = new FieldNameSet(options);
    const lines: number[] = [];
    let i = start;
    const buf = this.buf;
    const hop = this.hopByHop ?? [];
    let h = 0;
    while (i < end && buf[i] !== CR) {
      const lineEnd = buf.indexOf(LF, i) + 1;
      if (h < hop.length && hop[h] === i) {
        lines.push(hop[h]!, hop[h + 1]!, hop[h + 2]!);
        h += 3;
      } else {
        const colon = buf.indexOf(0x3a, i);
        if (names.lookup(buf, i, colon) !== undefined) lines.push(i, lineEnd, FIELD_KIND.CONNECTION_OPTION);
      }
      i = lineEnd;
    }
    this.hopByHop = lines.length === 0 ? undefined : lines;
  }
}

/** RFC 9110 §8.6: `Content-Length = 1*DIGIT`. Signs, spaces, lists and hex are refused. */
function parseLength(buf: Buffer, start: number, end: number, code: ErrorCode): number {
  if (start === end) malformed(code, 'empty Content-Length');
  if (end - start > MAX_LENGTH_DIGITS) malformed(code, 'Content-Length too large');
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) malformed(code, 'invalid Content-Length');
    n = n * 10 + d;
  }
  return n;
}

function onlySpaces(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== SP) return false;
  return true;
}
