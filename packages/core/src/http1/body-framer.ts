import type { ErrorCode } from '@detour/protocol';
import { CR, FIELD_VALUE, HEX, HTAB, LF, SP, TCHAR } from './chars.js';
import { malformed, parseFieldLines } from './field-lines.js';
import { BODY_KIND } from './response-head.js';
import type { BodyKind } from './response-head.js';

/** Chunk-size lines longer than this (extensions included) are refused; llhttp and Node bound them too. */
const MAX_CHUNK_LINE_BYTES = 4096;
/** Largest chunk size accepted: 2^53 - 1 keeps arithmetic exact. */
const MAX_CHUNK_SIZE = Number.MAX_SAFE_INTEGER;

// Chunked decoder states (RFC 9112 §7.1).
const S = {
  SIZE_START: 0,
  SIZE: 1,
  EXT_BWS: 2, // BWS before ";" (or the CR ending the line)
  EXT_NAME_START: 3,
  EXT_NAME: 4,
  EXT_AFTER_NAME: 5,
  EXT_VALUE_START: 6,
  EXT_TOKEN: 7,
  EXT_QUOTED: 8,
  EXT_QUOTED_ESCAPE: 9,
  SIZE_LF: 10,
  DATA: 11,
  DATA_CR: 12,
  DATA_LF: 13,
  TRAILER_LINE_START: 14,
  TRAILER_LINE: 15,
  END_LF: 16,
  DONE: 17,
} as const;
type State = (typeof S)[keyof typeof S];

export interface BodyFramerOptions {
  /** The error code of this side: a client's body is a 400, an app's a 502. */
  code: ErrorCode;
  /** Receives the body's payload (de-chunked), as views of the input. */
  onData?: (buf: Buffer, start: number, end: number) => void;
  /** Bound on the trailer section; default 32 KiB. */
  maxTrailerBytes?: number;
}

/**
 * Finds where a message body ends, byte by byte as it arrives, without copying
 * it: a proxy forwards the raw bytes it is told belong to the body and keeps
 * the rest for the next message. Chunked bodies are validated completely
 * (sizes, extensions, CRLFs, trailers) because a proxy and an app that disagree
 * on where a chunked body ends is request smuggling (RFC 9112 §11.2).
 */
export class BodyFramer {
  readonly kind: BodyKind;
  readonly #code: ErrorCode;
  readonly #onData: ((buf: Buffer, start: number, end: number) => void) | undefined;
  readonly #maxTrailerBytes: number;
  #remaining: number;
  #state: State;
  #lineBytes = 0;
  #trailer: Buffer[] | undefined;
  #trailerBytes = 0;
  #lastTrailerByte = -1;
  #lineEnded = false;
  #done: boolean;

  /** `length` is the Content-Length for `BODY_KIND.LENGTH` and ignored otherwise. */
  constructor(kind: BodyKind, length: number, options: BodyFramerOptions) {
    this.kind = kind;
    this.#code = options.code;
    this.#onData = options.onData;
    this.#maxTrailerBytes = options.maxTrailerBytes ?? 32 * 1024;
    this.#remaining = kind === BODY_KIND.LENGTH ? length : 0;
    this.#state = S.SIZE_START;
    this.#done = kind === BODY_KIND.NONE || (kind === BODY_KIND.LENGTH && length === 0);
  }

  /** Whether the whole body has been seen. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Consumes body bytes from `buf[start, end)` and returns the index after the
   * last one; bytes from there on belong to whatever follows the body.
   */
  consume(buf: Buffer, start: number, end: number): number {
    if (this.#done || start >= end) return start;
    switch (this.kind) {
      case BODY_KIND.LENGTH: {
        const stop = Math.min(end, start + this.#remaining);
        this.#remaining -= stop - start;
        if (this.#remaining === 0) this.#done = true;
        this.#onData?.(buf, start, stop);
        return stop;
      }
      case BODY_KIND.CLOSE:
        this.#onData?.(buf, start, end);
        return end;
      default:
        return this.#chunked(buf, start, end);
    }
  }

  /**
   * The peer closed its side. Completes a close-delimited body; for any other
   * body the message was truncated, which is an error (RFC 9112 §8).
   */
  end(): void {
    if (this.#done) return;
    if (this.kind === BODY_KIND.CLOSE) {
      this.#done = true;
      return;
    }
    malformed(this.#code, 'connection closed before the body was complete');
  }

  /** The trailer fields of a chunked body as `[name, value]` pairs, once done. */
  trailers(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    if (this.#trailer === undefined) return out;
    const section = Buffer.concat([...this.#trailer, Buffer.from('\r\n')]);
    parseFieldLines(section, 0, section.length, this.#code, {
      field(_kind, nameStart, nameEnd, valueStart, valueEnd) {
        out.push([section.toString('latin1', nameStart, nameEnd).toLowerCase(), section.toString('latin1', valueStart, valueEnd)]);
      },
    });
    return out;
  }

  #chunked(buf: Buffer, start: number, end: number): number {
    const code = this.#code;
    let i = start;
    let state = this.#state;
    while (i < end) {
      if (state === S.DATA) {
        const stop = Math.min(end, i + this.#remaining);
        this.#remaining -= stop - i;
        if (stop > i) this.#onData?.(buf, i, stop);
        i = stop;
        if (this.#remaining === 0) state = S.DATA_CR;
        continue;
      }
      if (state === S.TRAILER_LINE) {
        i = this.#trailerLine(buf, i, end);
        if (this.#lineEnded) state = S.TRAILER_LINE_START;
        continue;
      }
      const b = buf[i]!;
      i++;
      if (state <= S.EXT_QUOTED_ESCAPE && ++this.#lineBytes > MAX_CHUNK_LINE_BYTES) malformed(code, 'chunk size line too long');
      switch (state) {
        case S.SIZE_START:
        case S.SIZE: {
          const d = HEX[b]!;
          if (d !== -1) {
            if (this.#remaining > (MAX_CHUNK_SIZE - d) / 16) malformed(code, 'chunk size too large');
            this.#remaining = this.#remaining * 16 + d;
            state = S.SIZE;
          } else if (state === S.SIZE_START) {
            malformed(code, 'invalid chunk size');
          } else if (b === CR) {
            state = S.SIZE_LF;
          } else if (b === 0x3b) {
            state = S.EXT_NAME_START;
          } else if (b === SP || b === HTAB) {
            state = S.EXT_BWS;
          } else {
            malformed(code, 'invalid chunk size');
          }
          break;
        }
        // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), RFC 9112 §7.1.1
        case S.EXT_BWS:
          if (b === 0x3b) state = S.EXT_NAME_START;
          else if (b === CR) state = S.SIZE_LF;
          else if (b !== SP && b !== HTAB) malformed(code, 'invalid chunk extension');
          break;
        case S.EXT_NAME_START:
          if (TCHAR[b] === 1) state = S.EXT_NAME;
          else if (b !== SP && b !== HTAB) malformed(code, 'invalid chunk extension name');
          break;
        case S.EXT_NAME:
        case S.EXT_AFTER_NAME:
          if (state === S.EXT_NAME && TCHAR[b] === 1) break;
          if (b === 0x3d) state = S.EXT_VALUE_START;
          else if (b === 0x3b) state = S.EXT_NAME_START;
          else if (b === CR) state = S.SIZE_LF;
          else if (b === SP || b === HTAB) state = S.EXT_AFTER_NAME;
          else malformed(code, 'invalid chunk extension');
          break;
        case S.EXT_VALUE_START:
          if (b === 0x22) state = S.EXT_QUOTED;
          else if (TCHAR[b] === 1) state = S.EXT_TOKEN;
          else if (b !== SP && b !== HTAB) malformed(code, 'invalid chunk extension value');
          break;
        case S.EXT_TOKEN:
          if (TCHAR[b] === 1) break;
          if (b === 0x3b) state = S.EXT_NAME_START;
          else if (b === CR) state = S.SIZE_LF;
          else if (b === SP || b === HTAB) state = S.EXT_BWS;
          else malformed(code, 'invalid chunk extension value');
          break;
        case S.EXT_QUOTED:
          // qdtext (RFC 9110 §5.6.4): any field byte but DQUOTE and backslash.
          if (b === 0x22) state = S.EXT_BWS;
          else if (b === 0x5c) state = S.EXT_QUOTED_ESCAPE;
          else if (FIELD_VALUE[b] !== 1) malformed(code, 'invalid chunk extension value');
          break;
        case S.EXT_QUOTED_ESCAPE:
          if (FIELD_VALUE[b] !== 1) malformed(code, 'invalid chunk extension value');
          state = S.EXT_QUOTED;
          break;
        case S.SIZE_LF:
          if (b !== LF) malformed(code, 'bare CR after chunk size');
          this.#lineBytes = 0;
          state = this.#remaining === 0 ? S.TRAILER_LINE_START : S.DATA;
          break;
        case S.DATA_CR:
          if (b !== CR) malformed(code, 'chunk data longer than its size');
          state = S.DATA_LF;
          break;
        case S.DATA_LF:
          if (b !== LF) malformed(code, 'bare CR after chunk data');
          state = S.SIZE_START;
          break;
        case S.TRAILER_LINE_START:
          if (b === CR) {
            state = S.END_LF;
          } else {
            state = S.TRAILER_LINE;
            i--; // this byte starts the line
          }
          break;
        case S.END_LF:
          if (b !== LF) malformed(code, 'bare CR ending chunked body');
          this.#state = S.DONE;
          this.#done = true;
          return i;
        default:
          malformed(code, 'invalid chunked body');
      }
    }
    this.#state = state;
    return i;
  }

  /**
   * Collects trailer-line bytes up to and including the line's LF. The section
   * is parsed strictly by `trailers()`; here only its size and CRLFs are checked.
   */
  #trailerLine(buf: Buffer, from: number, end: number): number {
    const lf = buf.indexOf(LF, from);
    this.#lineEnded = lf !== -1 && lf < end;
    const stop = this.#lineEnded ? lf + 1 : end;
    this.#trailerBytes += stop - from;
    if (this.#trailerBytes > this.#maxTrailerBytes) malformed(this.#code, 'trailer section too large');
    (this.#trailer ??= []).push(buf.subarray(from, stop));
    if (this.#lineEnded && (lf > from ? buf[lf - 1] : this.#lastTrailerByte) !== CR) malformed(this.#code, 'bare LF in trailer section');
    this.#lastTrailerByte = buf[stop - 1]!;
    return stop;
  }
}
