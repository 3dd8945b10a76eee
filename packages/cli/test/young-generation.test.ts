// Issue 15 (agent memory): `detour agent` keeps V8's young generation at its first size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { keepsYoungGenerationSmall } from '../src/young-generation.js';

test('keepsYoungGenerationSmall: only the agent, and never against a size node was given', () => {
  assert.equal(keepsYoungGenerationSmall(['agent', '--service', 'api'], [], undefined), true);
  assert.equal(keepsYoungGenerationSmall(['manager'], [], undefined), false);
  assert.equal(keepsYoungGenerationSmall([], [], undefined), false);
  assert.equal(keepsYoungGenerationSmall(['agent'], ['--max-semi-space-size=16'], undefined), false);
  assert.equal(keepsYoungGenerationSmall(['agent'], [], '--max-old-space-size=100 --max_semi_space_size=8'), false);
  assert.equal(keepsYoungGenerationSmall(['agent'], [], '--semi-space-growth-factor=2'), false);
  assert.equal(keepsYoungGenerationSmall(['agent'], [], '--max-old-space-size=100'), true);
});

/** Size in MiB of V8's new space after allocating objects that survive scavenges, in a fresh node. */
function newSpaceMiB(argv: string[]): number {
  const moduleUrl = new URL('../src/young-generation.js', import.meta.url).href;
  const script = `
    import v8 from 'node:v8';
    const { sizeYoungGeneration } = await import(${JSON.stringify(moduleUrl)});
    sizeYoungGeneration(${JSON.stringify(argv)}, [], undefined);
    const kept = [];
    for (let i = 0; i < 2_000_000; i++) { const o = { i, a: [i] }; if (i % 10 === 0) kept.push(o); }
    const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(space.space_size / 1048576));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, cwd: fileURLToPath(new URL('.', import.meta.url)) }));
}

// This is what relies on V8 reading its growth factor at every growth: a node upgrade that stops doing so fails here.
test('sizeYoungGeneration: the agent\'s young generation does not grow under surviving allocations; another command\'s does', () => {
  const agent = newSpaceMiB(['agent']);
  const other = newSpaceMiB(['manager']);
  assert.ok(agent <= 2, `agent: new space ${agent} MiB`);
  assert.ok(other > agent, `manager: new space ${other} MiB, agent ${agent} MiB`);
});
