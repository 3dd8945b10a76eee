import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { diffMergePatch } from '../merge-patch.js';
import { bounded, httpStatus } from './client.js';

export const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Bound on each API call of a write. */
export const WRITE_TIMEOUT_MS = 10_000;
/** How many 409 Conflicts one write re-reads and retries before it gives up. */
export const MAX_CONFLICT_RETRIES = 5;

interface Versioned {
  metadata?: { resourceVersion?: string };
}

/**
 * Reads an object, changes it with `change` (plain data in, plain data out) and
 * writes only the difference as a JSON merge patch carrying the resourceVersion it
 * read, so a write racing someone else's answers 409 Conflict instead of undoing
 * theirs; on 409 it reads again and re-applies `change` (bounded). Returns the
 * object as written, or undefined when `change` changed nothing (no write).
 */
export async function readModifyWrite<T extends Versioned>(
  read: () => Promise<T>,
  patch: (body: object) => Promise<T>,
  change: (current: T) => T,
): Promise<{ before: T; after: T } | undefined> {
  for (let attempt = 0; ; attempt += 1) {
    // client-node hands out class instances with every absent field present as undefined and
    // timestamps as Dates; the JSON form is what the API server holds, and what is compared.
    const current = JSON.parse(JSON.stringify(await bounded(read(), WRITE_TIMEOUT_MS))) as T;
    const next = change(structuredClone(current));
    if (isDeepStrictEqual(current, next)) return undefined;
    const body = diffMergePatch(current, next) as { metadata?: object };
    body.metadata = { ...body.metadata, resourceVersion: current.metadata?.resourceVersion };
    try {
      return { before: current, after: await bounded(patch(body), WRITE_TIMEOUT_MS) };
    } catch (err) {
      if (httpStatus(err) !== 409 || attempt >= MAX_CONFLICT_RETRIES) throw err;
    }
  }
}
