import { DynamicTable, ENTRY_OVERHEAD_BYTES } from './dynamic-table.js';
import { HpackError } from './hpack-error.js';
import { huffmanDecode } from './huffman.js';
import { STATIC_TABLE, STATIC_TABLE_LENGTH } from './static-table.js';

export interface DecodedBlock {
  /** name, value, name, value … in wire order (the same shape as node's rawHeaders) */
  readonly fields: string[];
  /**
   * true when the block neither referenced the dynamic table, nor added to it, nor changed its size:
   * it means the same to any decoder, so the relay may forward its bytes verbatim
   */
  readonly stateless: boolean;
}

/** SETTINGS_HEADER_TABLE_SIZE before any SETTINGS frame (RFC 9113 §6.5.2). */
export const DEFAULT_HEADER_TABLE_BYTES = 4096;

/**
 * An integer above this is refused (RFC 7541 §5.1 leaves the limit to the
 * implementation): no length or index can honestly be that large, and it keeps
 * every value exact in a double.
 */
const MAX_INTEGER = 2 ** 31 - 1;
/** 5 continuation bytes carry 35 bits; more can only be a run of zero-valued padding. */
const MAX_CONTINUATION_BYTES = 5;

interface Latin1Buffer extends Buffer {
  /** node's own fast path behind `toString('latin1', start, end)`, without its argument checks */
  latin1Slice(start: number, end: number): string;
}

const EMPTY = Buffer.alloc(0) as Latin1Buffer;

/**
 * Decodes the header blocks of one direction of one HTTP/2 connection (RFC 7541).
 * Blocks must be given in the order they arrived: the dynamic table carries
 * state from each to the next.
 */
export class HpackDecoder {
  readonly #table: DynamicTable;
  #maxTableSize: number;
  /**
   * The lowest limit set since the last block, when it fell below the table's
   * size: the next block must then begin with a size update to at most this
   * (RFC 7541 §4.2), so that the peer's encoder is known to have seen it.
   */
  #lowestUnsignalledLimit = Infinity;
  #src = EMPTY;
  #pos = 0;

  /** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE this side advertised (default 4096) */
  constructor(maxTableSize: number = DEFAULT_HEADER_TABLE_BYTES) {
    this.#maxTableSize = maxTableSize;
    this.#table = new DynamicTable(maxTableSize);
  }

  /**
   * The limit a size update may not exceed; the relay lowers/raises it when settings change.
   * Change it when the peer acknowledges the SETTINGS frame that carried the new
   * SETTINGS_HEADER_TABLE_SIZE: blocks the peer encoded before it had the frame
   * still use the old limit. After a lowering below the table's current size the
   * next block must start with a size update, as RFC 7541 §4.2 requires of the encoder.
   */
  get maxTableSize(): number {
    return this.#maxTableSize;
  }

  set maxTableSize(bytes: number) {
    this.#maxTableSize = bytes;
    if (bytes < this.#table.capacityBytes) this.#lowestUnsignalledLimit = Math.min(this.#lowestUnsignalledLimit, bytes);
  }

  /** the dynamic table's current size in bytes (RFC 7541 §4.1) */
  get tableBytes(): number {
    return this.#table.bytes;
  }

  /** the dynamic table's entries as name, value, … newest first (index 62 first) */
  tableEntries(): string[] {
    const entries: string[] = [];
    for (let i = 0; i < this.#table.length; i++) entries.push(this.#table.name(i), this.#table.value(i));
    return entries;
  }

  /**
   * decodes one complete header block (HEADERS + CONTINUATION payloads concatenated); throws HpackError.
   * maxFieldBytes: stop with HpackError when the decoded fields exceed this many bytes (name+value+32 each,
   * RFC 7541 §4.1 size), so a hostile block cannot exhaust memory
   */
  decode(block: Uint8Array, maxFieldBytes: number = Infinity): DecodedBlock {
    const src = (Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength)) as Latin1Buffer;
    this.#src = src;
    this.#pos = 0;
    try {
      return this.#decodeBlock(src, maxFieldBytes);
    } finally {
      this.#src = EMPTY;
    }
  }

  #decodeBlock(src: Latin1Buffer, maxFieldBytes: number): DecodedBlock {
    const end = src.length;
    const table = this.#table;
    const fields: string[] = [];
    let stateless = true;
    let fieldBytes = 0;
    // RFC 7541 §4.2: size updates come first in a block, before any field.
    if (this.#lowestUnsignalledLimit !== Infinity) {
      if (end === 0 || (src[0]! & 0xe0) !== 0x20) throw new HpackError('dynamic table size update required after the limit was lowered');
    }
    while (this.#pos < end && (src[this.#pos]! & 0xe0) === 0x20) {
      const bytes = this.#integer(5);
      if (bytes > Math.min(this.#maxTableSize, this.#lowestUnsignalledLimit)) throw new HpackError(`dynamic table size update to ${bytes} exceeds the limit`);
      this.#lowestUnsignalledLimit = Infinity;
      table.capacityBytes = bytes;
      stateless = false;
    }
    while (this.#pos < end) {
      const first = src[this.#pos]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed Header Field (RFC 7541 §6.1)
        const index = this.#integer(7);
        if (index === 0) throw new HpackError('index 0');
        if (index <= STATIC_TABLE_LENGTH) {
          const entry = STATIC_TABLE[index - 1]!;
          name = entry[0];
          value = entry[1];
        } else {
          const i = this.#dynamicIndex(index);
          name = table.name(i);
          value = table.value(i);
          stateless = false;
        }
      } else if ((first & 0xe0) === 0x20) {
        throw new HpackError('dynamic table size update after a header field');
      } else {
        // Literal Header Field with Incremental Indexing (§6.2.1: 01, 6-bit index),
        // without Indexing (§6.2.2: 0000) or Never Indexed (§6.2.3: 0001), 4-bit index.
        const indexing = (first & 0x40) !== 0;
        const index = this.#integer(indexing ? 6 : 4);
        if (index === 0) {
          name = this.#string();
          checkLowercase(name);
        } else if (index <= STATIC_TABLE_LENGTH) {
          name = STATIC_TABLE[index - 1]![0];
        } else {
          name = table.name(this.#dynamicIndex(index));
          stateless = false;
        }
        value = this.#string();
        if (indexing) {
          table.add(name, value);
          stateless = false;
        }
      }
      fieldBytes += name.length + value.length + ENTRY_OVERHEAD_BYTES;
      if (fieldBytes > maxFieldBytes) throw new HpackError(`header fields exceed ${maxFieldBytes} bytes`);
      fields.push(name, value);
    }
    return { fields, stateless };
  }

  /** The dynamic table position of a wire index above the static table's. */
  #dynamicIndex(index: number): number {
    const i = index - STATIC_TABLE_LENGTH - 1;
    if (i >= this.#table.length) throw new HpackError(`index ${index} is beyond the dynamic table`);
    return i;
  }

  /** Reads an integer with an N-bit prefix at the cursor (RFC 7541 §5.1). */
  #integer(prefixBits: number): number {
    const src = this.#src;
    const limit = (1 << prefixBits) - 1;
    let value = src[this.#pos++]! & limit;
    if (value < limit) return value;
    let factor = 1;
    for (let n = 0; n < MAX_CONTINUATION_BYTES; n++) {
      if (this.#pos >= src.length) throw new HpackError('truncated integer');
      const byte = src[this.#pos++]!;
      value += (byte & 0x7f) * factor;
      if (value > MAX_INTEGER) throw new HpackError('integer overflow');
      if (byte < 0x80) return value;
      factor *= 128;
    }
    throw new HpackError('integer overflow');
  }

  /** Reads a string literal at the cursor (RFC 7541 §5.2). */
  #string(): string {
    const src = this.#src;
    if (this.#pos >= src.length) throw new HpackError('truncated header block');
    const huffman = (src[this.#pos]! & 0x80) !== 0;
    const length = this.#integer(7);
    const start = this.#pos;
    const end = start + length;
    if (end > src.length) throw new HpackError('string literal runs past the header block');
    this.#pos = end;
    return huffman ? huffmanDecode(src, start, end) : src.latin1Slice(start, end);
  }
}

/**
 * HTTP/2 field names are lowercase (RFC 9113 §8.2.1), and nghttp2 refuses a
 * field with an uppercase name; a name taken from a table was checked when it
 * was added.
 */
function checkLowercase(name: string): void {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) throw new HpackError(`header name ${JSON.stringify(name)} has uppercase characters`);
  }
}
