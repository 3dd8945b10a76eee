import v8 from 'node:v8';

/**
 * Keeps V8's young generation of `detour agent` at its first size (two 1 MiB
 * semi-spaces) instead of letting it grow to node 20's 2 × 16 MiB.
 *
 * The agent's peak RSS is a published target (issue 15: 80 MB under the
 * bench's comparison). Its garbage is short-lived (request heads, socket
 * chunks), and a grown young generation is ~30 MiB of pages the agent touches
 * and keeps; it also lets more dead socket buffers (off-heap, freed only when
 * their young owners are collected) pile up between scavenges. The bench's
 * comparison, 4 interleaved runs each: peak RSS 92–119 → 79–86 MiB, the rates
 * (× nginx) within their run-to-run spread.
 *
 * `--max-semi-space-size` is read once, when the heap is set up, so a process
 * cannot give it to itself (node 20 has no execve, and a launcher process would
 * be a second resident node). The growth factor is read every time the young
 * generation grows: set to 1 before the first growth (loading the CLI's modules
 * already grows it), the young generation stays as `--max-semi-space-size=1`
 * would keep it (measured: new_space 2 MiB under load either way).
 */
export const AGENT_YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

/** A flag that sizes the young generation: the user's choice wins over ours. */
const YOUNG_GENERATION_FLAG = /^--(?:(?:max|min)[-_])?semi[-_]space[-_](?:size|growth[-_]factor)\b/;

/** Whether `detour <argv>` should keep its young generation small: only the agent, and only when node was not told a size. */
export function keepsYoungGenerationSmall(argv: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  if (argv[0] !== 'agent') return false;
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return !given.some((flag) => YOUNG_GENERATION_FLAG.test(flag));
}

/** Called by the bin before it loads anything else. */
export function sizeYoungGeneration(argv: readonly string[], execArgv: readonly string[], nodeOptions: string | undefined): void {
  if (keepsYoungGenerationSmall(argv, execArgv, nodeOptions)) v8.setFlagsFromString(AGENT_YOUNG_GENERATION_FLAG);
}
