import type { Duplex } from 'node:stream';

/**
 * HTTP/2 framing (RFC 9113 §4, §6) at the byte level, for a relay that moves
 * frames between connections without node:http2's per-stream objects.
 */

export const FRAME_DATA = 0x0;
export const FRAME_HEADERS = 0x1;
export const FRAME_PRIORITY = 0x2;
export const FRAME_RST_STREAM = 0x3;
export const FRAME_SETTINGS = 0x4;
export const FRAME_PUSH_PROMISE = 0x5;
export const FRAME_PING = 0x6;
export const FRAME_GOAWAY = 0x7;
export const FRAME_WINDOW_UPDATE = 0x8;
export const FRAME_CONTINUATION = 0x9;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;
export const FLAG_PADDED = 0x8;
export const FLAG_PRIORITY = 0x20;

/** Error codes (RFC 9113 §7). */
export const H2_NO_ERROR = 0x0;
export const H2_PROTOCOL_ERROR = 0x1;
export const H2_INTERNAL_ERROR = 0x2;
export const H2_FLOW_CONTROL_ERROR = 0x3;
export const H2_STREAM_CLOSED = 0x5;
export const H2_FRAME_SIZE_ERROR = 0x6;
export const H2_REFUSED_STREAM = 0x7;
export const H2_CANCEL = 0x8;
export const H2_COMPRESSION_ERROR = 0x9;
export const H2_ENHANCE_YOUR_CALM = 0xb;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
export const SETTINGS_ENABLE_PUSH = 0x2;
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
export const SETTINGS_MAX_FRAME_SIZE = 0x5;

/** What both ends assume before any SETTINGS (RFC 9113 §6.5.2, §6.9.2). */
export const DEFAULT_WINDOW_BYTES = 65_535;
export const DEFAULT_MAX_FRAME_BYTES = 16_384;
export const MAX_WINDOW_BYTES = 2 ** 31 - 1;

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

const FRAME_HEADER_BYTES = 9;
/** Up to this many queued bytes are copied into one buffer per write; more go out as a writev. */
const COALESCE_BYTES = 32 * 1024;

/** A connection error (RFC 9113 §5.4.1): the connection ends with GOAWAY carrying `code`. */
export class H2ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface FrameSink {
  /** One frame; `payload` is a view of the chunk it arrived in (copied only when it spanned reads). */
  frame(type: number, flags: number, streamId: number, payload: Buffer): void;
}

/**
 * Splits a byte stream into frames. A frame that arrived whole is handed on as
 * a view of the chunk it came in (no copy); only a frame split across reads is
 * reassembled. Frames longer than `maxFrameBytes` (the SETTINGS_MAX_FRAME_SIZE
 * this side advertised) are a connection error.
 */
export class FrameReader {
  readonly #sink: FrameSink;
  readonly #maxFrameBytes: number;
  #rest: Buffer | undefined;

  constructor(sink: FrameSink, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    this.#sink = sink;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Feeds bytes; throws H2ConnectionError on a frame that is too large. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#rest !== undefined) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    let at = 0;
    while (buf.length - at >= FRAME_HEADER_BYTES) {
      const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
      if (length > this.#maxFrameBytes) throw new H2ConnectionError(H2_FRAME_SIZE_ERROR, `a frame of ${length} bytes is over SETTINGS_MAX_FRAME_SIZE ${this.#maxFrameBytes}`);
      const end = at + FRAME_HEADER_BYTES + length;
      if (end > buf.length) break;
      const streamId = buf.readUInt32BE(at + 5) & 0x7fffffff;
      this.#sink.frame(buf[at + 3]!, buf[at + 4]!, streamId, buf.subarray(at + FRAME_HEADER_BYTES, end));
      at = end;
    }
    // The tail is copied: `chunk` may be a read buffer the socket reuses.
    if (at < buf.length) this.#rest = Buffer.from(buf.subarray(at));
  }
}

/**
 * Frames queued for one connection and written in one `write` per turn: a
 * relayed request is several small frames (HEADERS, DATA, WINDOW_UPDATE), and
 * one syscall for all of them is what makes a frame relay cheap. Large
 * payloads are written as they are (corked, one writev) rather than copied.
 */
export class FrameWriter {
  readonly #out: Duplex;
  #pieces: Buffer[] = [];
  #bytes = 0;
  #scheduled = false;
  readonly #flush = () => this.flush();

  constructor(out: Duplex) {
    this.#out = out;
  }

  /** Bytes queued and not yet handed to the socket. */
  get queuedBytes(): number {
    return this.#bytes;
  }

  /** Queues one frame. `payload` is kept by reference until the flush: socket chunks are not reused, so a reader's view stays valid. */
  frame(type: number, flags: number, streamId: number, payload?: Uint8Array): void {
    const length = payload === undefined ? 0 : payload.length;
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    head[0] = length >>> 16;
    head[1] = (length >>> 8) & 0xff;
    head[2] = length & 0xff;
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(streamId, 5);
    this.#pieces.push(head);
    this.#bytes += FRAME_HEADER_BYTES;
    if (payload !== undefined && length > 0) {
      this.#pieces.push(payload as Buffer);
      this.#bytes += length;
    }
    this.#schedule();
  }

  /** Raw bytes (the client preface). */
  raw(bytes: Buffer): void {
    this.#pieces.push(bytes);
    this.#bytes += bytes.length;
    this.#schedule();
  }

  flush(): void {
    this.#scheduled = false;
    const pieces = this.#pieces;
    if (pieces.length === 0 || this.#out.destroyed) {
      this.#pieces = [];
      this.#bytes = 0;
      return;
    }
    this.#pieces = [];
    const bytes = this.#bytes;
    this.#bytes = 0;
    if (pieces.length === 1) this.#out.write(pieces[0]!);
    else if (bytes <= COALESCE_BYTES) this.#out.write(Buffer.concat(pieces, bytes));
    else {
      // Body-sized: one writev of the pieces as they are beats copying them.
      this.#out.cork();
      for (const piece of pieces) this.#out.write(piece);
      this.#out.uncork();
    }
  }

  /** Flushes at the end of the current turn, after everything one read produced is queued. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
  }
}

/** A SETTINGS payload from [identifier, value] pairs. */
export function settingsPayload(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return payload;
}

export function uint32Payload(value: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(value);
  return payload;
}

export function goawayPayload(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  return payload;
}
