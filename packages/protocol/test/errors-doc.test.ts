import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/index.js';

// docs/errors.md holds every code of the repository. This package defines all of them but
// the propagation library's, which runs inside users' apps and depends on nothing of ours:
// its DETOUR_ERR_PROPAGATION_* codes are checked both ways by its own errors-doc test.
const PROPAGATION_AREA = 'DETOUR_ERR_PROPAGATION_';
const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');

test('docs/errors.md lists exactly the codes the code defines', () => {
  const documented = new Set([...doc.matchAll(/`(DETOUR_ERR_[A-Z_]+)`/g)].map((m) => m[1]!).filter((c) => !c.startsWith(PROPAGATION_AREA)));
  const defined = new Set(Object.keys(ERROR_CODES));
  assert.deepEqual([...defined].filter((c) => !documented.has(c)), [], 'defined but not documented');
  assert.deepEqual([...documented].filter((c) => !defined.has(c)), [], 'documented but not defined');
});

test('docs/errors.md gives each code the exit code the CLI ends with', () => {
  const rows = new Map([...doc.matchAll(/^\| `(DETOUR_ERR_[A-Z_]+)` \| [^|]+ \| ([12]) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
  for (const [code, info] of Object.entries(ERROR_CODES)) assert.equal(rows.get(code), info.userError ? 2 : 1, code);
});

test('every code follows DETOUR_ERR_<AREA>_<CONDITION>, and the propagation area is the library’s', () => {
  for (const code of Object.keys(ERROR_CODES)) {
    assert.match(code, /^DETOUR_ERR_[A-Z]+_[A-Z_]+$/);
    assert.ok(!code.startsWith(PROPAGATION_AREA), code);
  }
});
