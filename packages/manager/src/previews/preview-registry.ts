import { createHash, randomBytes } from 'node:crypto';
import type { Intercept, PreviewEntry, StoredPreview } from '@detour/protocol';
import { DetourError } from '@detour/core';

/**
 * The previews of intercepts, as plain data (no sockets, no timers): ids,
 * expiry and revocation. A preview lives exactly as long as its intercept
 * (`leave`, `quit`, a lease running out) and no longer than its own expiry.
 *
 * Records are keyed by the SHA-256 of the id. The id itself is a bearer secret:
 * it is kept in memory only so that its owner can list its URL again; a store
 * gets the hash (StoredPreview), and a preview restored from one still works
 * for whoever holds the link, since a lookup hashes the id it is given.
 */

export interface PreviewRecord {
  idHash: string;
  /** Absent for a preview restored from a store. */
  id?: string;
  hint: string;
  interceptId: string;
  entry: PreviewEntry;
  createdAt: number;
  expiresAt: number;
}

/** 160 random bits (RFC 4648 base32, lower case: a DNS label, and host names ignore case). */
const ID_BYTES = 20;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
export const HINT_LENGTH = 6;

export function newPreviewId(): string {
  const bytes = randomBytes(ID_BYTES);
  let bits = 0;
  let value = 0;
  let id = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      id += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return id;
}

export function previewIdHash(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

export interface PreviewRegistryOptions {
  now?: () => number;
  /** Whether an intercept still exists; a preview of one that does not is revoked. */
  interceptExists: (interceptId: string) => boolean;
  /** Called (synchronously) after every change a store must hold. */
  onChanged?: () => void;
}

export class PreviewRegistry {
  readonly #records = new Map<string, PreviewRecord>();
  readonly #now: () => number;
  readonly #exists: (interceptId: string) => boolean;
  readonly #onChanged: () => void;

  constructor(options: PreviewRegistryOptions) {
    this.#now = options.now ?? Date.now;
    this.#exists = options.interceptExists;
    this.#onChanged = options.onChanged ?? (() => undefined);
  }

  create(intercept: Pick<Intercept, 'id'>, entry: PreviewEntry, ttlMs: number): PreviewRecord {
    const id = newPreviewId();
    const now = this.#now();
    const record: PreviewRecord = { idHash: previewIdHash(id), id, hint: id.slice(0, HINT_LENGTH), interceptId: intercept.id, entry, createdAt: now, expiresAt: now + ttlMs };
    this.#records.set(record.idHash, record);
    this.#onChanged();
    return { ...record };
  }

  /** The live preview an id names, or undefined: unknown, expired, or its intercept gone. */
  lookup(id: string): PreviewRecord | undefined {
    const record = this.#records.get(previewIdHash(id));
    if (record === undefined || !this.#live(record)) return undefined;
    return { ...record };
  }

  /** The live previews of the given intercepts, oldest first. */
  ofIntercepts(interceptIds: ReadonlySet<string>): PreviewRecord[] {
    return [...this.#records.values()].filter((r) => interceptIds.has(r.interceptId) && this.#live(r)).map((r) => ({ ...r }));
  }

  /**
   * Removes one preview of an intercept, named by its id or by a unique prefix
   * of it (at least the hint: what `preview list` shows of a restored one).
   */
  remove(interceptId: string, ref: string): PreviewRecord {
    const mine = this.ofIntercepts(new Set([interceptId]));
    const found = ref.length >= HINT_LENGTH ? mine.filter((r) => (r.id === undefined ? ref.startsWith(r.hint) || r.hint.startsWith(ref) : r.id.startsWith(ref))) : [];
    if (found.length !== 1) {
      throw new DetourError('DETOUR_ERR_PREVIEW_NOT_FOUND', found.length === 0 ? `no preview ${ref.slice(0, HINT_LENGTH)}… of this intercept` : `${ref} names ${found.length} previews; give more of the id`);
    }
    this.#records.delete(found[0]!.idHash);
    this.#onChanged();
    return found[0]!;
  }

  /** Drops the previews whose intercept has gone or whose time is up; returns how many. Cheap when nothing changed. */
  prune(): number {
    let dropped = 0;
    for (const [hash, record] of this.#records) {
      if (this.#live(record)) continue;
      this.#records.delete(hash);
      dropped += 1;
    }
    if (dropped > 0) this.#onChanged();
    return dropped;
  }

  /** What a store keeps of an intercept's previews. */
  stored(interceptId: string): StoredPreview[] {
    return [...this.#records.values()]
      .filter((r) => r.interceptId === interceptId)
      .map(({ idHash, hint, entry, createdAt, expiresAt }) => ({ idHash, hint, entry, createdAt, expiresAt }));
  }

  /** Puts back what a store kept; expired ones are left out. */
  restore(interceptId: string, previews: readonly StoredPreview[]): void {
    const now = this.#now();
    for (const preview of previews) {
      if (preview.expiresAt > now) this.#records.set(preview.idHash, { ...preview, interceptId });
    }
  }

  #live(record: PreviewRecord): boolean {
    return record.expiresAt > this.#now() && this.#exists(record.interceptId);
  }
}
