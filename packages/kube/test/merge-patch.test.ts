import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffMergePatch } from '../src/index.js';

/** RFC 7386 §2, to check that the patch does what it says. */
function apply(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = apply(out[key], value);
  }
  return out;
}

test('diffMergePatch sends only what changed: removed keys as null, arrays whole, unchanged keys left out', () => {
  const before = {
    metadata: { name: 'legacy', labels: { app: 'legacy' }, annotations: { 'detour.dev/original-target-ports': '{"80/TCP":8080}' } },
    spec: { selector: { app: 'legacy' }, ports: [{ port: 80, targetPort: 'detour-8080' }, { port: 53, protocol: 'UDP' }] },
  };
  const after = { metadata: { name: 'legacy', labels: { app: 'legacy' } }, spec: { selector: { app: 'legacy' }, ports: [{ port: 80, targetPort: 8080 }, { port: 53, protocol: 'UDP' }] } };
  const patch = diffMergePatch(before, after);
  assert.deepEqual(patch, { metadata: { annotations: null }, spec: { ports: after.spec.ports } });
  assert.deepEqual(apply(before, patch), after);
  assert.deepEqual(diffMergePatch(after, structuredClone(after)), {});
});
