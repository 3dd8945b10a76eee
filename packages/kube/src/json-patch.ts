import { isDeepStrictEqual } from 'node:util';
import { isRecord } from './objects.js';

/** One RFC 6902 operation; injection needs only these three. */
export type JsonPatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** RFC 6901 §3: `~` is written `~0` and `/` is written `~1` in a reference token. */
function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * The RFC 6902 patch that turns `before` into `after`, descending into objects at
 * most `depth` levels and replacing whatever differs below that wholesale. Arrays
 * are always replaced whole: an index-wise diff of `spec.containers` would be
 * longer and, applied to a pod another webhook reordered, wrong; a whole
 * replacement is correct whatever the pod looked like (RFC 6902 §4.3).
 */
export function diffJsonPatch(before: unknown, after: unknown, depth: number, path = ''): JsonPatchOperation[] {
  if (isDeepStrictEqual(before, after)) return [];
  if (depth <= 0 || !isRecord(before) || !isRecord(after)) return [{ op: 'replace', path, value: after }];
  const operations: JsonPatchOperation[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const child = `${path}/${escapeToken(key)}`;
    if (!(key in after)) operations.push({ op: 'remove', path: child });
    else if (!(key in before)) operations.push({ op: 'add', path: child, value: after[key] });
    else operations.push(...diffJsonPatch(before[key], after[key], depth - 1, child));
  }
  return operations;
}
