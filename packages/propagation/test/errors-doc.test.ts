import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERROR_CODES } from '../src/errors.js';

// The other half of protocol's errors-doc test: docs/errors.md lists exactly this package's codes
// in the DETOUR_ERR_PROPAGATION_ area (protocol checks every other code, and that it never uses this area).
test('docs/errors.md lists exactly the DETOUR_ERR_PROPAGATION_* codes the library defines', () => {
  const doc = readFileSync(path.resolve(__dirname, '../../../../docs/errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/`(DETOUR_ERR_PROPAGATION_[A-Z_]+)`/g)].map((m) => m[1]!));
  const defined = new Set<string>(Object.values(ERROR_CODES));
  assert.deepEqual([...defined].filter((c) => !documented.has(c)), [], 'defined but not documented');
  assert.deepEqual([...documented].filter((c) => !defined.has(c)), [], 'documented but not defined');
  for (const code of defined) assert.match(code, /^DETOUR_ERR_PROPAGATION_[A-Z_]+$/);
});
