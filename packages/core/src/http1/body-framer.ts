import type { ErrorCode } from '@detour/protocol';
import { CR, FIELD_VALUE, HEX, HTAB, LF, LOWER, SP, TCHAR } from './chars.js';
import { malformed, parseFieldLines } from './field-lines.js';
import { BODY_KIND } from './response-head.js';
import type { BodyKind } from './response-head.js';

/** Chunk-size lines longer than this (extensions included) are refused; llhttp and Node bound them too. */
const MAX_CHUNK_LINE_BYTES = 4096;
const CONTENT_LENGTH = 'content-length';
const TRANSFER_ENCODING = 'transfer-encoding';
/** Largest chunk size accepted: 2^53 - 1 keeps arithmetic exact. */
const MAX_CHUNK_SIZE = Number.MAX_SAFE_INTEGER;

// Chunked decoder states (RFC 9112 §7.1). Those up to EXT_QUOTED_END are inside a chunk-size line.
const S = {
  SIZE_START: 0,
  SIZE: 1,
  EXT_NAME_START: 2,
  EXT_NAME: 3,
  EXT_VALUE_START: 4,
  EXT_TOKEN: 5,
  EXT_QUOTED: 6,
  EXT_QUOTED_ESCAPE: 7,
  EXT_QUOTED_END: 8,
  SIZE_LF: 9,
  DATA: 10,
  DATA_CR: 11,
  DATA_LF: 12,
  TRAILER_LINE_START: 13,
  TRAILER_NAME: 14,
  TRAILER_VALUE: 15,
  TRAILER_LF: 16,
  END_LF: 17,
  DONE: 18,
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
  /** The trailer section's bytes, final CRLF included, as views of the input. */
  #trailer: Buffer[] | undefined;
  #trailerBytes = 0;
  /** The current trailer field name, lower-cased, while it is short enough to be a framing field. */
  #trailerName = '';
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
    // Two bytes are the CRLF of an empty section.
    if (this.#trailer === undefined || this.#trailerBytes <= 2) return out;
    const section = Buffer.concat(this.#trailer);
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
    // Where this call's share of the trailer section starts, when it is in one.
    let trailerFrom = state >= S.TRAILER_LINE_START && state <= S.END_LF ? start : -1;
    while (i < end) {
      if (state === S.DATA) {
        const stop = Math.min(end, i + this.#remaining);
        this.#remaining -= stop - i;
        if (stop > i) this.#onData?.(buf, i, stop);
        i = stop;
        if (this.#remaining === 0) state = S.DATA_CR;
        continue;
      }
      const b = buf[i]!;
      i++;
      if (state <= S.EXT_QUOTED_END && ++this.#lineBytes > MAX_CHUNK_LINE_BYTES) malformed(code, 'chunk size line too long');
      if (state >= S.TRAILER_LINE_START && ++this.#trailerBytes > this.#maxTrailerBytes) malformed(code, 'trailer section too large');
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
          } else {
            malformed(code, 'invalid chunk size');
          }
          break;
        }
        // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), RFC 9112 §7.1.1,
        // without the BWS: llhttp refuses whitespace anywhere in a chunk line, and a proxy that
        // skipped it while the app behind it did not would disagree on where the chunk starts
        // (RFC 9112 §11.2). Nobody sends it; chunk extensions themselves are rare.
        case S.EXT_NAME_START:
          if (TCHAR[b] !== 1) malformed(code, 'invalid chunk extension name');
          state = S.EXT_NAME;
          break;
        case S.EXT_NAME:
          if (TCHAR[b] === 1) break;
          if (b === 0x3d) state = S.EXT_VALUE_START;
          else state = this.#afterExtension(b);
          break;
        case S.EXT_VALUE_START:
          if (b === 0x22) state = S.EXT_QUOTED;
          else if (TCHAR[b] === 1) state = S.EXT_TOKEN;
          else malformed(code, 'invalid chunk extension value');
          break;
        case S.EXT_TOKEN:
          if (TCHAR[b] !== 1) state = this.#afterExtension(b);
          break;
        case S.EXT_QUOTED:
          // qdtext (RFC 9110 §5.6.4): any field byte but DQUOTE and backslash.
          if (b === 0x22) state = S.EXT_QUOTED_END;
          else if (b === 0x5c) state = S.EXT_QUOTED_ESCAPE;
          else if (FIELD_VALUE[b] !== 1) malformed(code, 'invalid chunk extension value');
          break;
        case S.EXT_QUOTED_ESCAPE:
          if (FIELD_VALUE[b] !== 1) malformed(code, 'invalid chunk extension value');
          state = S.EXT_QUOTED;
          break;
        case S.EXT_QUOTED_END:
          state = this.#afterExtension(b);
          break;
        case S.SIZE_LF:
          if (b !== LF) malformed(code, 'bare CR after chunk size');
          this.#lineBytes = 0;
          if (this.#remaining === 0) {
            state = S.TRAILER_LINE_START;
            trailerFrom = i;
          } else {
            state = S.DATA;
          }
          break;
        case S.DATA_CR:
          if (b !== CR) malformed(code, 'chunk data longer than its size');
          state = S.DATA_LF;
          break;
        case S.DATA_LF:
          if (b !== LF) malformed(code, 'bare CR after chunk data');
          state = S.SIZE_START;
          break;
        // The trailer section is field lines (RFC 9112 §7.1.2) held to the rules of a
        // head (see parseFieldLines), byte by byte: the agent forwards it as it arrives.
        case S.TRAILER_LINE_START:
          if (b === CR) {
            state = S.END_LF;
          } else if (b === SP || b === HTAB) {
            malformed(code, 'obsolete line folding (obs-fold) is not allowed');
          } else if (TCHAR[b] === 1) {
            this.#trailerName = String.fromCharCode(LOWER[b]!);
            state = S.TRAILER_NAME;
          } else {
            malformed(code, b === LF ? 'bare LF in trailer section' : 'invalid trailer field name');
          }
          break;
        case S.TRAILER_NAME:
          if (TCHAR[b] === 1) {
            if (this.#trailerName.length <= TRANSFER_ENCODING.length) this.#trailerName += String.fromCharCode(LOWER[b]!);
          } else if (b === 0x3a) {
            // RFC 9110 §6.5.1: fields that frame the message cannot be trailers; one that a
            // downstream merged into the head would re-frame a message already delimited.
            if (this.#trailerName === CONTENT_LENGTH || this.#trailerName === TRANSFER_ENCODING) malformed(code, `${this.#trailerName} in trailer section`);
            state = S.TRAILER_VALUE;
          } else {
            malformed(code, b === SP || b === HTAB ? 'whitespace between trailer name and colon' : 'invalid trailer field name');
          }
          break;
        case S.TRAILER_VALUE:
          if (b === CR) state = S.TRAILER_LF;
          else if (FIELD_VALUE[b] !== 1) malformed(code, b === LF ? 'bare LF in trailer section' : 'invalid character in trailer value');
          break;
        case S.TRAILER_LF:
          if (b !== LF) malformed(code, 'bare CR in trailer section');
          state = S.TRAILER_LINE_START;
          break;
        case S.END_LF:
          if (b !== LF) malformed(code, 'bare CR ending chunked body');
          (this.#trailer ??= []).push(buf.subarray(trailerFrom, i));
          this.#state = S.DONE;
          this.#done = true;
          return i;
        default:
          malformed(code, 'invalid chunked body');
      }
    }
    if (trailerFrom !== -1 && i > trailerFrom) (this.#trailer ??= []).push(buf.subarray(trailerFrom, i));
    this.#state = state;
    return i;
  }

  /** The state after a chunk extension (its name, token or quoted value) ends with `b`. */
  #afterExtension(b: number): State {
    if (b === 0x3b) return S.EXT_NAME_START;
    if (b === CR) return S.SIZE_LF;
    return malformed(this.#code, 'invalid chunk extension');
  }
}
