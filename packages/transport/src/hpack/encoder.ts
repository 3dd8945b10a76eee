import { STATIC_BY_NAME } from './static-table.js';

// Stateless encoding (RFC 7541 §6.1, §6.2.2): a field is either an index into
// the static table or a literal without indexing, and strings are never
// Huffman-coded. No representation touches a dynamic table, so the block means
// the same to every decoder and costs one pass to write and to read; on
// loopback the bytes Huffman would save are worth less than its CPU.

/**
 * Most bytes a field takes beyond its name and value: a representation byte
 * and, for each string, a length of up to 6 bytes (a JS string is shorter
 * than 2^32, which is 1 prefix byte and 5 of 7 bits).
 */
const MAX_FIELD_OVERHEAD_BYTES = 13;

/**
 * Stateless encoding: every field as "indexed" when (name,value) is in the static table, else "literal without
 * indexing" with the static-table name index when there is one, else literal name; no Huffman (cheaper to encode
 * and to decode on loopback); never touches any dynamic table, so the block means the same to every decoder.
 * `fields` is name, value, name, value … (node's rawHeaders shape); strings are latin1, one char per byte,
 * and names are taken as sent (HTTP/2 requires them lowercase).
 */
export function encodeHeaderBlock(fields: readonly string[]): Buffer {
  if (fields.length % 2 !== 0) throw new TypeError('header fields come in name, value pairs');
  let most = 0;
  for (let i = 0; i < fields.length; i += 2) most += fields[i]!.length + fields[i + 1]!.length + MAX_FIELD_OVERHEAD_BYTES;
  const out = Buffer.allocUnsafe(most);
  let pos = 0;
  for (let i = 0; i < fields.length; i += 2) pos = writeField(out, pos, fields[i]!, fields[i + 1]!);
  return out.subarray(0, pos);
}

/**
 * Same, for callers that have a name→value record (values may be string | string[] | number as in node's
 * OutgoingHttpHeaders, pseudo-headers first as given). Pseudo-headers are written before the other fields
 * wherever they are in the record (RFC 9113 §8.3); an array gives one field per element; undefined is skipped.
 */
export function encodeHeaderRecord(headers: Record<string, string | string[] | number | undefined>): Buffer {
  const fields: string[] = [];
  const names = Object.keys(headers);
  for (const pseudo of [true, false]) {
    for (const name of names) {
      if ((name.charCodeAt(0) === 0x3a) !== pseudo) continue;
      const value = headers[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const each of value) fields.push(name, each);
      else fields.push(name, typeof value === 'string' ? value : String(value));
    }
  }
  return encodeHeaderBlock(fields);
}

function writeField(out: Buffer, pos: number, name: string, value: string): number {
  const known = STATIC_BY_NAME.get(name);
  if (known !== undefined) {
    const index = known.valueIndexes.get(value);
    // Indexed Header Field, 1 + 7-bit index (RFC 7541 §6.1)
    if (index !== undefined) return writeInteger(out, pos, 0x80, 7, index);
    // Literal Header Field without Indexing, indexed name: 0000 + 4-bit index (§6.2.2)
    pos = writeInteger(out, pos, 0x00, 4, known.nameIndex);
  } else {
    // Literal Header Field without Indexing, new name: 0x00, then the name (§6.2.2)
    out[pos++] = 0x00;
    pos = writeString(out, pos, name);
  }
  return writeString(out, pos, value);
}

/** A string literal without Huffman coding: H = 0, 7-bit length, the latin1 bytes (RFC 7541 §5.2). */
function writeString(out: Buffer, pos: number, text: string): number {
  pos = writeInteger(out, pos, 0x00, 7, text.length);
  // A loop beats the native call's fixed cost on the short strings most fields are.
  if (text.length < 32) {
    for (let i = 0; i < text.length; i++) out[pos++] = text.charCodeAt(i);
    return pos;
  }
  return pos + out.write(text, pos, 'latin1');
}

/** An integer with an N-bit prefix after the representation's `flags` bits (RFC 7541 §5.1). */
function writeInteger(out: Buffer, pos: number, flags: number, prefixBits: number, value: number): number {
  const limit = (1 << prefixBits) - 1;
  if (value < limit) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | limit;
  let rest = value - limit;
  while (rest >= 128) {
    out[pos++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[pos++] = rest;
  return pos;
}
