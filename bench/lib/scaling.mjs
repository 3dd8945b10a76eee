import { runWrk } from './wrk.mjs';
import { median, medianRatio } from './stats.mjs';
import { request } from './http.mjs';
import { HEADER_NAME, UNINTERCEPTED_HEADER_VALUE } from './detour.mjs';

/**
 * The unmatched rate with 1, 100 and 1,000 active personal intercepts on the
 * service. Matching must not grow with their number (issue 5). The counts are
 * visited up then down then up (ABBA), so that drift over the phase — the
 * machine warming, a neighbour's compile starting — cancels out instead of
 * reading as a slope.
 *
 * The requests carry the intercept header with a value nobody intercepts:
 * traffic without the header could skip the matcher, so it would not show
 * whether matching grows with the number of intercepts.
 */

const UNMATCHED_HEADERS = { [HEADER_NAME]: UNINTERCEPTED_HEADER_VALUE };

/** Stand-ins are created this many at a time; each create waits for the agent's ack. */
const CREATE_CONCURRENCY = 8;

/**
 * @param {object} o
 * @param {{ addDeveloper: Function }} o.api
 * @param {number[]} o.counts total intercepts on the service; the bench developer's own is the first
 */
export async function measureScaling({ api, service, counts, runs, durationS, agentUrl, laptopPort, wrkPath, wrkCpus, tasksetPath, log, headers = UNMATCHED_HEADERS, label = 'scaling' }) {
  const removers = [];
  let next = 0;
  const setCount = async (total) => {
    const want = total - 1;
    const t0 = performance.now();
    while (removers.length < want) {
      const batch = Array.from({ length: Math.min(CREATE_CONCURRENCY, want - removers.length) }, () => api.addDeveloper(service, next++, laptopPort));
      removers.push(...(await Promise.all(batch)));
    }
    while (removers.length > want) {
      await Promise.all(removers.splice(Math.max(want, removers.length - CREATE_CONCURRENCY)).map((remove) => remove()));
    }
    return performance.now() - t0;
  };

  const probe = await request(`${agentUrl}/`, { headers });
  if (probe.headers['x-served-by'] !== 'app') throw new Error(`an unmatched header value was answered by ${probe.headers['x-served-by'] ?? `HTTP ${probe.status}`}, not the app`);
  const samples = Object.fromEntries(counts.map((c) => [c, []]));
  try {
    for (let run = 0; run < runs; run++) {
      const order = run % 2 === 0 ? counts : [...counts].reverse();
      for (const count of order) {
        const setupMs = await setCount(count);
        const figures = await runWrk({ wrkPath, url: `${agentUrl}/`, headers, durationS, cpus: wrkCpus, tasksetPath });
        samples[count].push(figures);
        log(`${label} run ${run + 1}/${runs} ${String(count).padStart(5)} intercepts (set up in ${(setupMs / 1e3).toFixed(1)} s): ${figures.rps.toFixed(0)} req/s, p99 ${figures.p99Ms.toFixed(2)} ms${figures.errors ? `, ${figures.errors} errors` : ''}`);
      }
    }
  } finally {
    await setCount(1);
  }
  return {
    counts: counts.map((count) => {
      // Run r of every count falls in the same up or down pass, so per-pass ratios cancel drift between passes.
      const vsFirst = medianRatio(samples[count], samples[counts[0]], 'rps');
      return {
        count,
        rps: median(samples[count].map((f) => f.rps)),
        p99Ms: median(samples[count].map((f) => f.p99Ms)),
        changePct: vsFirst == null ? null : (vsFirst - 1) * 100,
        errors: samples[count].reduce((sum, f) => sum + f.errors, 0),
        runs: samples[count],
      };
    }),
  };
}
