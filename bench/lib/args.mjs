import { parseArgs } from 'node:util';

/**
 * Command-line flags of `npm run bench -- [flags]`. A bad flag is a user's
 * mistake: one line and exit code 2 (see run.mjs).
 */

/** Every path and phase `--only` can select. */
/** `detour-unmatched-metrics`: the unmatched path through a second agent of the same service run with `--metrics-port`. */
/** `detour-unmatched-wiretap`: the unmatched path through an agent of a second service that has a `--mode wiretap` intercept on another header value (issue 16). */
/** `detour-preview`: the matched path entered through the preview gateway (issue 12): gateway → agent → manager → daemon → laptop. */
/**
 * `haproxy-front`, `haproxy-front-hdr`: a design measured, not shipped (issue 15, "C proxy in front"): HAProxy sends
 * requests without `x-telepresence-id` to the app and the others to the agent; `-hdr` sends every request with a value
 * nobody intercepts, so each crosses both.
 */
export const PATHS = ['direct', 'nginx', 'haproxy', 'go-httputil', 'detour-unmatched', 'detour-unmatched-metrics', 'detour-unmatched-wiretap', 'detour-matched', 'detour-preview', 'haproxy-front', 'haproxy-front-hdr'];
/** `scaling-signed`: the scaling phase again on a manager run with --signed-keys, the requests carrying a valid signed value. */
export const PHASES = ['scaling', 'scaling-signed', 'activation', 'streaming', 'h2c', 'two-cpus'];

/**
 * Full-run defaults; `--quick` swaps in QUICK. `phaseDurationS` is the run
 * length of the h2c and two-CPU phases, which time many paths: in --quick
 * they are a 1 s smoke, in a full run as long as the comparison's runs.
 */
const FULL = { runs: 3, durationS: 10, phaseDurationS: null, interceptCounts: [1, 100, 1000], fanoutAgents: 10, streamBytes: 1024 ** 3 };
/**
 * Quick: proves every part starts and the report renders, well under CI's 2-minute budget. Every timed run
 * is 1 s: with 11 paths × 2 routes in the comparison and 5 paths × 3 workloads in h2c, 2 s runs no longer
 * fit in run.mjs's 75 s limit.
 */
const QUICK = { runs: 1, durationS: 1, phaseDurationS: 1, interceptCounts: [1, 10], fanoutAgents: 3, streamBytes: 16 * 1024 ** 2 };

export const USAGE = `usage: npm run bench -- [--quick] [--runs N] [--duration S] [--only LIST] [--no-install] [--cpu-prof]
  --quick        CI smoke: 1 run of 1 s per path and phase, 1 and 10 intercepts, 3 fan-out agents,
                 16 MiB streams; no thresholds; uses Go for go-httputil only if it is installed
  --runs N       interleaved runs per path, medians reported (default ${FULL.runs})
  --duration S   seconds per wrk run (default ${FULL.durationS})
  --only LIST    comma-separated subset of: ${[...PATHS, ...PHASES].join(', ')}
  --no-install   do not apt-get missing nginx/haproxy/wrk/h2load/golang-go; skip what needs them
  --cpu-prof     run the agent under node --cpu-prof; the profile goes to bench/results/profiles/`;

export class UsageError extends Error {}

function positiveInt(text, flag) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`${flag} must be an integer from 1 to 1000, got "${text}"`);
  return n;
}

/** Parses argv into a frozen settings object; throws UsageError on a bad flag. */
export function parseFlags(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean', default: false },
        runs: { type: 'string' },
        duration: { type: 'string' },
        only: { type: 'string' },
        'no-install': { type: 'boolean', default: false },
        'cpu-prof': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  const base = values.quick ? QUICK : FULL;
  const selected = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [...PATHS, ...PHASES];
  const unknown = selected.filter((s) => !PATHS.includes(s) && !PHASES.includes(s));
  if (unknown.length > 0) throw new UsageError(`--only: unknown ${unknown.join(', ')}; choose from ${[...PATHS, ...PHASES].join(', ')}`);
  const durationS = values.duration ? positiveInt(values.duration, '--duration') : base.durationS;
  return Object.freeze({
    help: values.help,
    quick: values.quick,
    install: !values['no-install'],
    cpuProf: values['cpu-prof'],
    runs: values.runs ? positiveInt(values.runs, '--runs') : base.runs,
    durationS,
    phaseDurationS: values.duration ? durationS : base.phaseDurationS ?? durationS,
    /** True when --only chose the set: --quick then runs what was named even if it skips it by default. */
    onlyGiven: Boolean(values.only),
    paths: PATHS.filter((p) => selected.includes(p)),
    phases: PHASES.filter((p) => selected.includes(p)),
    interceptCounts: base.interceptCounts,
    fanoutAgents: base.fanoutAgents,
    streamBytes: base.streamBytes,
  });
}
