import { createHmac, timingSafeEqual } from 'node:crypto';
import type { RoutingKey } from '@detour/protocol';

/**
 * Signed routing keys (`detour manager --signed-keys`, issue 13).
 *
 * A personal header value such as `alice-3f9c0a` can be typed by anyone who can
 * reach the environment, and it would pull their request onto Alice's laptop.
 * Signed, the value is `alice-3f9c0a.<expiry>.<keyId>.<mac>`: the expiry in
 * epoch seconds, the id of the manager key that signed it, and an HMAC-SHA256
 * over the three, truncated to 128 bits (NIST SP 800-107 §5.3.3: a truncated
 * HMAC keeps the security of its length against forgery) and base64url-encoded.
 * Agents hold the keys (pushed with each rule set) and route a signed matcher
 * only on a value that verifies and has not expired.
 *
 * The segments are read from the right, so a name may itself contain dots.
 */

/** Bytes of the MAC kept: 128 bits, as the issue asks for at least. */
export const ROUTING_MAC_BYTES = 16;

/** How many verified (or refused) values an agent remembers; past it the least recently used is forgotten. */
export const ROUTING_KEY_CACHE_ENTRIES = 10_000;

/** Values longer than this are not looked at (the wire caps header values at 256 in rule sets too). */
const MAX_SIGNED_VALUE_CHARS = 256;

function macOf(secret: Buffer, signedPart: string): Buffer {
  return createHmac('sha256', secret).update(signedPart).digest().subarray(0, ROUTING_MAC_BYTES);
}

/** Signs `name` until `expiresAtMs` (rounded down to a second) under `key`. */
export function signRoutingValue(name: string, expiresAtMs: number, key: RoutingKey): string {
  const signedPart = `${name}.${Math.floor(expiresAtMs / 1000)}.${key.id}`;
  return `${signedPart}.${macOf(Buffer.from(key.secret, 'base64url'), signedPart).toString('base64url')}`;
}

/** Why a value of a signed header was not honoured; counted in `detour_agent_routing_keys_rejected_total`. */
export type RoutingKeyRejection = 'unsigned' | 'forged' | 'expired';

/** What the cache remembers of one value: the name it was signed for and until when, or why it was refused. */
interface CacheEntry {
  readonly name: string | undefined;
  readonly expiresAtMs: number;
  readonly refused: 'unsigned' | 'forged' | undefined;
  /** Set on every hit; eviction gives a used entry a second chance (see {@link RoutingKeyVerifier.nameOf}). */
  used: boolean;
}

/**
 * Verifies signed values on the agent's hot path. A value is checked with HMAC
 * once; the outcome (its name and expiry, or why it was refused) is kept in a
 * bounded map, so every later request with the same value costs one map lookup,
 * a flag write and a clock read. A new key set clears the map: a value refused
 * before its key arrived, or accepted under a key since dropped, is checked again.
 */
export class RoutingKeyVerifier {
  /** Refusals since start, by reason (plain numbers: the metrics copy them at scrape time). */
  readonly rejected: Record<RoutingKeyRejection, number> = { unsigned: 0, forged: 0, expired: 0 };
  readonly #now: () => number;
  readonly #maxEntries: number;
  #keys = new Map<string, Buffer>();
  #keyIds = '';
  readonly #cache = new Map<string, CacheEntry>();

  constructor(options: { now?: () => number; maxEntries?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? ROUTING_KEY_CACHE_ENTRIES;
  }

  /** Installs the keys of a rule set; a changed set empties the cache. */
  setKeys(keys: readonly RoutingKey[]): void {
    const ids = keys.map((k) => `${k.id}:${k.secret}`).sort().join(',');
    if (ids === this.#keyIds) return;
    this.#keyIds = ids;
    this.#keys = new Map(keys.map((k) => [k.id, Buffer.from(k.secret, 'base64url')]));
    this.#cache.clear();
  }

  /** How many values are remembered now (for tests and the bound). */
  get cachedValues(): number {
    return this.#cache.size;
  }

  /**
   * The name a value was signed for, while it is valid; undefined otherwise, and
   * then, when `count` is set, the refusal is counted by its reason.
   */
  nameOf(value: string, count: boolean): string | undefined {
    let entry = this.#cache.get(value);
    if (entry === undefined) {
      entry = this.#check(value);
      this.#evictFor();
      this.#cache.set(value, entry);
    } else {
      entry.used = true;
    }
    if (entry.refused !== undefined) {
      if (count) this.rejected[entry.refused]++;
      return undefined;
    }
    if (this.#now() >= entry.expiresAtMs) {
      if (count) this.rejected.expired++;
      return undefined;
    }
    return entry.name;
  }

  /**
   * Makes room for one value: least recently used first, approximated by a second
   * chance (CLOCK): the oldest entry goes unless it was used since it was last
   * looked at here, in which case it moves to the back with its flag cleared. A
   * hit then costs a flag write, not a delete and re-insert (measured: a Map
   * delete+set per hit made a cached lookup ~10× slower than the lookup itself).
   */
  #evictFor(): void {
    // Bounded: at most one pass over the entries, each moved back at most once.
    for (let visited = 0; this.#cache.size >= this.#maxEntries && visited <= this.#maxEntries; visited++) {
      const [oldest, entry] = this.#cache.entries().next().value!;
      this.#cache.delete(oldest);
      if (!entry.used) continue;
      entry.used = false;
      this.#cache.set(oldest, entry);
    }
    while (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
  }

  #check(value: string): CacheEntry {
    const refuse = (refused: 'unsigned' | 'forged'): CacheEntry => ({ name: undefined, expiresAtMs: 0, refused, used: false });
    if (value.length > MAX_SIGNED_VALUE_CHARS) return refuse('unsigned');
    const macAt = value.lastIndexOf('.');
    const keyAt = macAt > 0 ? value.lastIndexOf('.', macAt - 1) : -1;
    const expiryAt = keyAt > 0 ? value.lastIndexOf('.', keyAt - 1) : -1;
    if (expiryAt <= 0) return refuse('unsigned');
    const expiry = value.slice(expiryAt + 1, keyAt);
    if (!/^[0-9]{1,12}$/.test(expiry)) return refuse('unsigned');
    const secret = this.#keys.get(value.slice(keyAt + 1, macAt));
    if (secret === undefined) return refuse('forged');
    const given = Buffer.from(value.slice(macAt + 1), 'base64url');
    const expected = macOf(secret, value.slice(0, macAt));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse('forged');
    // base64url decoding ignores stray characters; only the canonical spelling is accepted, so one value has one form.
    if (given.toString('base64url') !== value.slice(macAt + 1)) return refuse('forged');
    return { name: value.slice(0, expiryAt), expiresAtMs: Number(expiry) * 1000, refused: undefined, used: false };
  }
}
