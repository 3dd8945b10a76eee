import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/index.js';

test('docs/errors.md lists exactly the codes the code defines', () => {
  const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/`(DETOUR_ERR_[A-Z_]+)`/g)].map((m) => m[1]));
  const defined = new Set(Object.keys(ERROR_CODES));
  assert.deepEqual([...defined].filter((c) => !documented.has(c)), [], 'defined but not documented');
  assert.deepEqual([...documented].filter((c) => !defined.has(c)), [], 'documented but not defined');
});

test('every code follows DETOUR_ERR_<AREA>_<CONDITION>', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^DETOUR_ERR_[A-Z]+_[A-Z_]+$/);
});
