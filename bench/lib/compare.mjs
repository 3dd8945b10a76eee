import { runWrk } from './wrk.mjs';
import { request } from './http.mjs';
import { summariseRuns } from './stats.mjs';

/**
 * The side-by-side comparison: every path, small and 1 MiB responses, with the
 * runs interleaved (run 1 of every path, then run 2, …) so that a burst of
 * background load hits all paths alike instead of one path's every run.
 */

export const ROUTES = [
  { id: 'small', path: '/' },
  { id: '1m', path: '/1m' },
];

/**
 * Checks that `target` answers `route` from the expected server with the
 * expected body size, so that no path is timed while it routes wrongly or fails.
 * @returns {Promise<string|null>} why it is wrong, or null
 */
async function verify(target, route, expectBytes) {
  try {
    const res = await request(target.url + route.path, { headers: target.headers });
    const servedBy = res.headers['x-served-by'];
    if (res.status !== 200) return `${route.path} answered HTTP ${res.status}: ${res.body.slice(0, 200)}`;
    if (servedBy !== target.servedBy) return `${route.path} was served by ${servedBy ?? 'unknown'}, expected ${target.servedBy}`;
    if (Buffer.byteLength(res.body) !== expectBytes[route.id]) return `${route.path} returned ${Buffer.byteLength(res.body)} bytes, expected ${expectBytes[route.id]}`;
    return null;
  } catch (err) {
    return `${route.path}: ${err.message}`;
  }
}

/**
 * @param {object} o
 * @param {Array<{ id: string, url: string, headers: object, servedBy: string }>} o.targets
 * @param {typeof ROUTES} [o.routes] the routes to time (all by default)
 * @returns {Promise<{ results: Record<string, Record<string, object>>, skipped: Record<string, string> }>}
 */
export async function compare({ targets, routes = ROUTES, runs, durationS, wrkPath, wrkCpus, tasksetPath, expectBytes, log }) {
  const skipped = {};
  const live = [];
  for (const target of targets) {
    const problems = (await Promise.all(routes.map((route) => verify(target, route, expectBytes)))).filter(Boolean);
    if (problems.length > 0) skipped[target.id] = problems.join('; ');
    else live.push(target);
  }
  for (const [id, why] of Object.entries(skipped)) log(`skipping ${id}: ${why}`);

  const raw = Object.fromEntries(live.map((t) => [t.id, Object.fromEntries(routes.map((r) => [r.id, []]))]));
  for (let run = 0; run < runs; run++) {
    // Rotating the start also spreads "first after a pause" effects over the paths.
    const order = live.map((_, i) => live[(i + run) % live.length]);
    for (const route of routes) {
      for (const target of order) {
        let figures;
        try {
          figures = await runWrk({ wrkPath, url: target.url + route.path, headers: target.headers, durationS, cpus: wrkCpus, tasksetPath });
        } catch (err) {
          figures = { error: err.message };
        }
        raw[target.id][route.id].push(figures);
        log(figures.error
          ? `run ${run + 1}/${runs} ${route.id.padEnd(5)} ${target.id.padEnd(16)} failed: ${figures.error.split('\n')[0]}`
          : `run ${run + 1}/${runs} ${route.id.padEnd(5)} ${target.id.padEnd(16)} ${figures.rps.toFixed(0).padStart(7)} req/s  p99 ${figures.p99Ms.toFixed(2)} ms  ${figures.mibPerS.toFixed(1)} MiB/s${figures.errors ? `  ${figures.errors} errors` : ''}`);
      }
    }
  }
  const results = Object.fromEntries(Object.entries(raw).map(([id, byRoute]) => [id, Object.fromEntries(Object.entries(byRoute).map(([r, rs]) => [r, summariseRuns(rs)]))]));
  return { results, skipped };
}
