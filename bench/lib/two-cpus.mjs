import { compare, ROUTES } from './compare.mjs';
import { startNginxRouter, startHaproxy } from './servers.mjs';
import { medianRatio } from './stats.mjs';

/**
 * The two-CPU phase (issue 15): nginx with 2 workers and HAProxy with 2
 * threads, each allowed two CPUs, beside the agent, which is one Node process
 * whatever it is given, on the same CPUs. nginx with 1 worker on the same
 * CPUs is the reference that tells "a second worker" apart from "a wider
 * affinity mask", which a single-threaded process profits from too.
 *
 * Honest only with care on few cores: the upstream nginx keeps its CPUs, and
 * on a 2-CPU machine the proxy's two CPUs include the load generator's (see
 * twoCpuLayout and docs/performance.md, "Two CPUs for the proxy").
 */

export const TWO_CPU_SERVICE = 'bench-2cpu';

/**
 * Where the proxies of this phase run, from the main layout: the server CPUs
 * when there are at least two of them (shared with the upstream, never with
 * the load generator), else every CPU, which on 2 CPUs means the load CPU too.
 * @returns {{ proxyCpus: string|null, sharesLoadCpu: boolean, why: string|null }}
 */
export function twoCpuLayout({ serverCpus, loadCpus }) {
  if (!serverCpus || !loadCpus) return { proxyCpus: null, sharesLoadCpu: false, why: 'needs taskset and at least 2 CPUs' };
  if (serverCpus.includes('-')) return { proxyCpus: serverCpus, sharesLoadCpu: false, why: null };
  return { proxyCpus: `${serverCpus},${loadCpus}`, sharesLoadCpu: true, why: null };
}

/**
 * @returns {Promise<{ proxyCpus: string, upstreamCpus: string, loadCpus: string, sharesLoadCpu: boolean, paths: object, ratios: object, skipped: object }>}
 */
export async function measureTwoCpus({ layout, tools, workDir, upstream, headerValue, startAgent, manager, runs, durationS, expectBytes, log }) {
  const { proxyCpus, sharesLoadCpu } = twoCpuLayout(layout);
  const router = { workDir, tools, upstream, headerValue, cpus: proxyCpus };
  const skipped = {};
  const targets = [];
  const add = async (id, servedBy, startIt) => {
    try {
      const { url } = await startIt();
      targets.push({ id, url, headers: {}, servedBy });
    } catch (err) {
      skipped[id] = `did not start: ${err.message.split('\n')[0]}`;
    }
  };
  if (tools.nginx) {
    await add('nginx-2w', 'app', () => startNginxRouter({ ...router, name: 'router-2w', workers: 2 }));
    await add('nginx-1w', 'app', () => startNginxRouter({ ...router, name: 'router-1w', workers: 1 }));
  }
  if (tools.haproxy) await add('haproxy-2t', 'app', () => startHaproxy({ ...router, name: 'haproxy-2t', threads: 2 }));
  else skipped['haproxy-2t'] = `haproxy: ${tools.missing.haproxy}`;
  if (manager) await add('detour-1p', 'app', () => startAgent({ service: TWO_CPU_SERVICE, appUrl: upstream.appUrl, manager, cpus: proxyCpus, tasksetPath: tools.taskset }));
  else skipped['detour-1p'] = 'detour did not start (see its own row)';
  log(`two-CPU phase: proxies on CPUs ${proxyCpus}, upstream on ${layout.serverCpus}, load on ${layout.loadCpus}${sharesLoadCpu ? ' (the proxies share the load CPU)' : ''}`);
  // Small responses only: a second CPU buys request rate; 1 MiB bodies are timed in the main comparison.
  const compared = await compare({
    targets, routes: ROUTES.filter((r) => r.id === 'small'), runs, durationS, wrkPath: tools.wrk, wrkCpus: layout.loadCpus, tasksetPath: tools.taskset, expectBytes, log,
  });
  const runsOf = (id) => compared.results[id]?.small.runs;
  const ratios = Object.fromEntries(Object.keys(compared.results).map((id) => [id, {
    rpsVsNginx2w: medianRatio(runsOf(id), runsOf('nginx-2w'), 'rps'),
    p99VsNginx2w: medianRatio(runsOf(id), runsOf('nginx-2w'), 'p99Ms'),
  }]));
  return {
    proxyCpus, upstreamCpus: layout.serverCpus, loadCpus: layout.loadCpus, sharesLoadCpu,
    paths: compared.results, ratios, skipped: { ...skipped, ...compared.skipped },
  };
}
