import { readdir, readFile } from 'node:fs/promises';

/**
 * Reads the agent's V8 CPU profile (written by `node --cpu-prof` when the agent
 * exits) and ranks functions by self time, the first thing to look at when
 * the agent misses a target (issue 5: "profile it (--cpu-prof)").
 */

/** The newest .cpuprofile in `dir`, or null. */
async function newestProfile(dir) {
  const names = (await readdir(dir).catch(() => [])).filter((n) => n.endsWith('.cpuprofile')).sort();
  return names.length ? `${dir}/${names.at(-1)}` : null;
}

/** Top `count` functions by self time: [{ fn, where, selfPct }], plus the file read. */
export async function summariseProfile(dir, count = 15) {
  const file = await newestProfile(dir);
  if (!file) return null;
  const { nodes } = JSON.parse(await readFile(file, 'utf8'));
  const self = new Map();
  let total = 0;
  for (const { callFrame: cf, hitCount = 0 } of nodes) {
    const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|packages)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'}\t${where}`;
    self.set(key, (self.get(key) ?? 0) + hitCount);
    total += hitCount;
  }
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, count).map(([key, hits]) => {
    const [fn, where] = key.split('\t');
    return { fn, where, selfPct: (hits / total) * 100 };
  });
  return { file, top };
}
