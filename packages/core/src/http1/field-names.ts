import { RELAY_OWNED_HEADERS } from '@detour/protocol';
import { LOWER } from './chars.js';

/**
 * Field names the codec itself interprets. Names are compared byte by byte,
 * case-insensitively (RFC 9110 §5.1), without allocating a string per field.
 */
export const FIELD_KIND = {
  OTHER: 0,
  CONTENT_LENGTH: 1,
  TRANSFER_ENCODING: 2,
  HOST: 3,
  EXPECT: 4,
  // RFC 9110 §7.6.1 hop-by-hop fields: a proxy removes them before forwarding.
  CONNECTION: 5,
  KEEP_ALIVE: 6,
  PROXY_CONNECTION: 7,
  TE: 8,
  UPGRADE: 9,
  /** A field named by a Connection option, hence hop-by-hop too (RFC 9110 §7.6.1). */
  CONNECTION_OPTION: 10,
  /** A field only detour's relay may set (`RELAY_OWNED_HEADERS`): dropped in both directions, like a hop-by-hop one. */
  RELAY_OWNED: 11,
} as const;
export type FieldKind = (typeof FIELD_KIND)[keyof typeof FIELD_KIND];

function bytes(name: string): Uint8Array {
  return Buffer.from(name, 'latin1');
}

const CONTENT_LENGTH = bytes('content-length');
const TRANSFER_ENCODING = bytes('transfer-encoding');
const HOST = bytes('host');
const EXPECT = bytes('expect');
const CONNECTION = bytes('connection');
const KEEP_ALIVE = bytes('keep-alive');
const PROXY_CONNECTION = bytes('proxy-connection');
const TE = bytes('te');
const UPGRADE = bytes('upgrade');

/** Whether `buf[start, start + lower.length)` equals the lower-case name `lower`, ignoring ASCII case. */
export function equalsLower(buf: Uint8Array, start: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) {
    if (LOWER[buf[start + i]!] !== lower[i]) return false;
  }
  return true;
}

/** The relay-owned names by length: any other field costs one comparison and one array read. */
const RELAY_OWNED_BY_LENGTH: Array<Uint8Array[] | undefined> = [];
for (const name of RELAY_OWNED_HEADERS) (RELAY_OWNED_BY_LENGTH[name.length] ??= []).push(bytes(name));

/** The kind of the field named `buf[start, end)`. */
export function classifyField(buf: Uint8Array, start: number, end: number): FieldKind {
  const kind = codecKind(buf, start, end);
  const length = end - start;
  if (kind !== FIELD_KIND.OTHER || length >= RELAY_OWNED_BY_LENGTH.length) return kind;
  const candidates = RELAY_OWNED_BY_LENGTH[length];
  if (candidates !== undefined) {
    for (const lower of candidates) if (equalsLower(buf, start, lower)) return FIELD_KIND.RELAY_OWNED;
  }
  return FIELD_KIND.OTHER;
}

function codecKind(buf: Uint8Array, start: number, end: number): FieldKind {
  switch (end - start) {
    case 2:
      return equalsLower(buf, start, TE) ? FIELD_KIND.TE : FIELD_KIND.OTHER;
    case 4:
      return equalsLower(buf, start, HOST) ? FIELD_KIND.HOST : FIELD_KIND.OTHER;
    case 6:
      return equalsLower(buf, start, EXPECT) ? FIELD_KIND.EXPECT : FIELD_KIND.OTHER;
    case 7:
      return equalsLower(buf, start, UPGRADE) ? FIELD_KIND.UPGRADE : FIELD_KIND.OTHER;
    case 10:
      if (equalsLower(buf, start, CONNECTION)) return FIELD_KIND.CONNECTION;
      return equalsLower(buf, start, KEEP_ALIVE) ? FIELD_KIND.KEEP_ALIVE : FIELD_KIND.OTHER;
    case 14:
      return equalsLower(buf, start, CONTENT_LENGTH) ? FIELD_KIND.CONTENT_LENGTH : FIELD_KIND.OTHER;
    case 16:
      return equalsLower(buf, start, PROXY_CONNECTION) ? FIELD_KIND.PROXY_CONNECTION : FIELD_KIND.OTHER;
    case 17:
      return equalsLower(buf, start, TRANSFER_ENCODING) ? FIELD_KIND.TRANSFER_ENCODING : FIELD_KIND.OTHER;
    default:
      return FIELD_KIND.OTHER;
  }
}

/**
 * A set of lower-case field names looked up straight from bytes. The router asks
 * the parser to capture only the headers its rules read; with this set a field
 * that is not wanted costs a length comparison and no allocation.
 */
export class FieldNameSet {
  static readonly EMPTY = new FieldNameSet([]);

  readonly size: number;
  readonly #byLength = new Map<number, Array<{ name: string; lower: Uint8Array }>>();
  readonly #minLength: number;
  readonly #maxLength: number;

  constructor(names: Iterable<string>) {
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    let size = 0;
    for (const name of new Set(names)) {
      const lower = name.toLowerCase();
      let bucket = this.#byLength.get(lower.length);
      if (bucket === undefined) this.#byLength.set(lower.length, (bucket = []));
      bucket.push({ name: lower, lower: bytes(lower) });
      min = Math.min(min, lower.length);
      max = Math.max(max, lower.length);
      size += 1;
    }
    this.size = size;
    this.#minLength = min;
    this.#maxLength = max;
  }

  /** The lower-case name when `buf[start, end)` is in the set. */
  lookup(buf: Uint8Array, start: number, end: number): string | undefined {
    const length = end - start;
    if (length < this.#minLength || length > this.#maxLength) return undefined;
    const bucket = this.#byLength.get(length);
    if (bucket === undefined) return undefined;
    for (const entry of bucket) {
      if (equalsLower(buf, start, entry.lower)) return entry.name;
    }
    return undefined;
  }
}
