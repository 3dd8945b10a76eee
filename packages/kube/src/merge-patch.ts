import { isDeepStrictEqual } from 'node:util';
import { isRecord } from './objects.js';

/**
 * The JSON merge patch (RFC 7386) that turns `before` into `after`: objects key by
 * key, a key `after` lacks becomes null (removed), anything else that differs is
 * sent whole (arrays included: RFC 7386 has no array operations). Unchanged keys
 * are left out, so the patch touches only what changed.
 */
export function diffMergePatch(before: unknown, after: unknown): unknown {
  if (!isRecord(before) || !isRecord(after)) return after;
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (!(key in after)) patch[key] = null;
    else if (!(key in before)) patch[key] = after[key];
    else if (!isDeepStrictEqual(before[key], after[key])) patch[key] = diffMergePatch(before[key], after[key]);
  }
  return patch;
}
