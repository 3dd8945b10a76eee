/**
 * Medians and ratios. Medians, not means: on a shared 2-core machine one run
 * that collides with someone's compile is an outlier to drop, not to average.
 */

/** Median of the finite numbers in `values`; null when there are none. */
export function median(values) {
  const xs = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** a / b, or null when either is missing or b is 0. */
export function ratio(a, b) {
  return a == null || b == null || b === 0 ? null : a / b;
}

/** Summarises wrk runs of one path: medians of each figure, plus the runs themselves. */
export function summariseRuns(runs) {
  const ok = runs.filter((r) => !r.error);
  const pick = (key) => median(ok.map((r) => r[key]));
  return {
    rps: pick('rps'),
    p50Ms: pick('p50Ms'),
    p99Ms: pick('p99Ms'),
    mibPerS: pick('mibPerS'),
    errors: ok.reduce((sum, r) => sum + r.errors, 0),
    runs,
  };
}

/**
 * Median of the per-round ratios a[i].key / b[i].key. Round i of two series
 * was measured in the same interleaved pass, a few seconds apart, so their
 * ratio cancels the machine's drift between rounds, which a ratio of two
 * medians would not. Failed runs are left out.
 */
export function medianRatio(a, b, key) {
  if (!a || !b) return null;
  const n = Math.min(a.length, b.length);
  return median(Array.from({ length: n }, (_, i) => (a[i].error || b[i].error ? NaN : ratio(a[i][key], b[i][key]) ?? NaN)));
}

/** Each path's figures as ratios to nginx (the router) and to direct (the physical limit). */
export function pathRatios(paths) {
  const runs = (id, route) => paths[id]?.[route]?.runs;
  return Object.fromEntries(Object.keys(paths).map((id) => [id, {
    rpsVsNginx: medianRatio(runs(id, 'small'), runs('nginx', 'small'), 'rps'),
    rpsVsDirect: medianRatio(runs(id, 'small'), runs('direct', 'small'), 'rps'),
    p99VsNginx: medianRatio(runs(id, 'small'), runs('nginx', 'small'), 'p99Ms'),
    mibVsNginx: medianRatio(runs(id, '1m'), runs('nginx', '1m'), 'mibPerS'),
    mibVsDirect: medianRatio(runs(id, '1m'), runs('direct', '1m'), 'mibPerS'),
    // The preview gateway's overhead (issue 12): the same route requested at the entry directly, with the header.
    ...(id === 'detour-preview'
      ? { rpsVsEntry: medianRatio(runs(id, 'small'), runs('detour-matched', 'small'), 'rps'), p99VsEntry: medianRatio(runs(id, 'small'), runs('detour-matched', 'small'), 'p99Ms'), mibVsEntry: medianRatio(runs(id, '1m'), runs('detour-matched', '1m'), 'mibPerS') }
      : {}),
  }]));
}
