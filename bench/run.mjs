#!/usr/bin/env node
// `npm run bench -- [--quick] [--runs N] [--duration S] [--only LIST]`: detour's
// agent against direct, nginx and HAProxy in one interleaved run (issue 5).
// Writes bench/results/latest.{json,md} and ratios.svg; see docs/performance.md.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, hostname } from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseFlags, PATHS, PHASES, USAGE, UsageError } from './lib/args.mjs';
import { ensureTools } from './lib/tools.mjs';
import { stopAll } from './lib/procs.mjs';
import { closeProbes, request } from './lib/http.mjs';
import { cpuLayout, pinSelf, makeWorkDir, versionOf } from './lib/setup.mjs';
import { startUpstream, startNginxRouter, startHaproxy, startHaproxyFront, startGoRouter } from './lib/servers.mjs';
import { SMALL_BODY } from './lib/configs.mjs';
import { detourUnavailable, startDetourStack, startAgent, startManager, startPreviewGateway, apiClient, DEV_HEADER_VALUE, HEADER_NAME, UNINTERCEPTED_HEADER_VALUE } from './lib/detour.mjs';
import { compare } from './lib/compare.mjs';
import { measureScaling } from './lib/scaling.mjs';
import { measureActivation } from './lib/activation.mjs';
import { measureStreaming } from './lib/streaming.mjs';
import { measureH2c } from './lib/h2c.mjs';
import { measureTwoCpus, twoCpuLayout } from './lib/two-cpus.mjs';
import { sampleRss } from './lib/rss.mjs';
import { pathRatios } from './lib/stats.mjs';
import { evaluateTargets } from './lib/targets.mjs';
import { toMarkdown, toTerminal } from './lib/report.mjs';
import { ratiosSvg } from './lib/chart.mjs';
import { summariseProfile } from './lib/profile.mjs';

const RESULTS_DIR = new URL('./results/', import.meta.url);
/** --quick and --only runs write elsewhere, so they never overwrite the published full-run figures. */
const QUICK_RESULTS_DIR = new URL('./results/quick/', import.meta.url);
const PARTIAL_RESULTS_DIR = new URL('./results/partial/', import.meta.url);
/** A full run (all paths and phases, not --quick) also refreshes the table between these markers. */
const DOC_URL = new URL('../docs/performance.md', import.meta.url);
const DOC_MARKERS = ['<!-- bench:latest:start -->', '<!-- bench:latest:end -->'];
const PROFILE_DIR = fileURLToPath(new URL('./results/profiles', import.meta.url));
/** The preview gateway's profile, apart from the agent's, which summariseProfile reads. */
const GATEWAY_PROFILE_DIR = fileURLToPath(new URL('./results/profiles/gateway', import.meta.url));
const SERVICE = 'bench';
/** The second service of the detour-unmatched-wiretap row. */
const WIRETAP_SERVICE = 'bench-tapped';
const FAN_SERVICE = 'bench-fan';
/** Hard cap on the whole run, so a hung phase cannot hold CI or a terminal forever. */
const FULL_DEADLINE_MS = 60 * 60_000;
/** CI gives --quick 2 minutes; the rest is for npm, tsc and writing the report. */
const QUICK_DEADLINE_MS = 75_000;
/** After the time limit, how long the stopped phases get to unwind before a hard exit. */
const BACKSTOP_MS = 15_000;

const startedAt = performance.now();
/** Progress lines carry the elapsed time, which shows where a slow run spends it. */
const log = (line) => console.log(`[bench +${((performance.now() - startedAt) / 1e3).toFixed(0)}s] ${line}`);

let cleanupPromise;
/** Ends every process the bench started and removes its files; safe to call twice. */
function cleanup(state) {
  cleanupPromise ??= (async () => {
    // `detour quit` first, so the daemon can leave the manager cleanly; stopAll catches what it misses.
    if (state.daemon) await state.daemon.quit().catch(() => {});
    await stopAll();
    closeProbes();
    await state.work?.remove();
  })();
  return cleanupPromise;
}

/**
 * Runs one phase; a failure is recorded under `skipped` and the bench goes on.
 * Once the run's time limit has passed, phases are recorded as not run.
 */
async function phase(state, skipped, id, fn) {
  if (state.expired) {
    skipped[id] = 'not run: the time limit of the run was reached';
    return null;
  }
  try {
    return await fn();
  } catch (err) {
    skipped[id] = `failed: ${err.message.split('\n')[0]}`;
    log(`${id} ${skipped[id]}`);
    return null;
  }
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** What needs the detour stack; the haproxy-front paths send the header'd requests to its agent. */
const DETOUR_IDS = ['detour-unmatched', 'detour-unmatched-metrics', 'detour-unmatched-wiretap', 'detour-matched', 'haproxy-front', 'haproxy-front-hdr', 'scaling', 'scaling-signed', 'activation', 'streaming', 'h2c'];

/**
 * Starts the upstream, the routers and the detour stack that the selected paths
 * need; whatever cannot start is recorded in `skipped` with the reason.
 * @returns {Promise<{ upstream: object|null, targets: object[], stack: object|null }>}
 */
async function startServers({ flags, tools, server, workDir, state, skipped, wants, skip }) {
  const detourMissing = detourUnavailable();
  if (detourMissing) skip(DETOUR_IDS, detourMissing);
  if (!tools.wrk) skip([...PATHS, 'scaling', 'scaling-signed', 'two-cpus'], `wrk: ${tools.missing.wrk}`);
  if (!tools.haproxy) skip(['haproxy', 'haproxy-front', 'haproxy-front-hdr'], `haproxy: ${tools.missing.haproxy}`);
  if (!tools.go) skip(['go-httputil'], `go: ${tools.missing.go}`);
  if (!tools.h2load) skip(['h2c'], `h2load: ${tools.missing.h2load}`);
  if (!tools.nginx) {
    skip([...flags.paths, ...flags.phases], `nginx (the shared upstream): ${tools.missing.nginx}`);
    return { upstream: null, targets: [], stack: null };
  }
  const upstream = await phase(state, skipped, 'upstream', () => startUpstream({ workDir, tools, bigBytes: flags.streamBytes, ...server }));
  if (!upstream) {
    skip([...flags.paths, ...flags.phases], `the upstream nginx did not start: ${skipped.upstream}`);
    return { upstream: null, targets: [], stack: null };
  }
  const targets = [];
  const router = { workDir, tools, upstream, headerValue: DEV_HEADER_VALUE, ...server };
  if (wants('direct')) targets.push({ id: 'direct', url: upstream.appUrl, headers: {}, servedBy: 'app' });
  if (wants('nginx') && !skipped.nginx) {
    const nginx = await phase(state, skipped, 'nginx', () => startNginxRouter(router));
    if (nginx) targets.push({ id: 'nginx', url: nginx.url, headers: {}, servedBy: 'app' });
  }
  if (wants('haproxy') && !skipped.haproxy) {
    const haproxy = await phase(state, skipped, 'haproxy', () => startHaproxy(router));
    if (haproxy) targets.push({ id: 'haproxy', url: haproxy.url, headers: {}, servedBy: 'app' });
  }
  if (wants('go-httputil') && !skipped['go-httputil']) {
    const go = await phase(state, skipped, 'go-httputil', () => startGoRouter(router));
    if (go) {
      log(`go-httputil built in ${(go.buildMs / 1e3).toFixed(1)} s`);
      targets.push({ id: 'go-httputil', url: go.url, headers: {}, servedBy: 'app' });
    }
  }
  let stack = null;
  // The two-CPU phase runs without detour too (its agent row is then missing), so it only adds to the reasons to start it.
  if (DETOUR_IDS.some((id) => wants(id) && !skipped[id]) || (wants('two-cpus') && !detourMissing)) {
    const profileDir = flags.cpuProf ? PROFILE_DIR : undefined;
    if (profileDir) await mkdir(profileDir, { recursive: true });
    stack = await phase(state, skipped, 'detour', () => startDetourStack({ workDir, service: SERVICE, upstream, profileDir, ...server }));
    state.daemon = stack?.daemon;
    if (!stack) skip(DETOUR_IDS, `detour did not start: ${skipped.detour}`);
    delete skipped.detour;
  }
  if (stack && wants('detour-unmatched') && !skipped['detour-unmatched']) targets.push({ id: 'detour-unmatched', url: stack.agent.url, headers: {}, servedBy: 'app' });
  if (stack && wants('detour-unmatched-metrics') && !skipped['detour-unmatched-metrics']) {
    // A second agent of the same service (so the same rule set), with its metrics listener on: the two rows differ by metrics only.
    const metered = await phase(state, skipped, 'detour-unmatched-metrics', () => startAgent({ service: SERVICE, appUrl: upstream.appUrl, manager: stack.manager, metrics: true, ...server }));
    if (metered) {
      stack.meteredAgent = metered;
      targets.push({ id: 'detour-unmatched-metrics', url: metered.url, headers: {}, servedBy: 'app' });
    }
  }
  if (stack && wants('detour-unmatched-wiretap') && !skipped['detour-unmatched-wiretap']) {
    // Its own service, so that no other row has the wiretap: the two unmatched rows differ by one wiretap's check per request.
    const tapped = await phase(state, skipped, 'detour-unmatched-wiretap', async () => {
      const agent = await startAgent({ service: WIRETAP_SERVICE, appUrl: upstream.appUrl, manager: stack.manager, ...server });
      await stack.daemon.wiretap(WIRETAP_SERVICE, upstream.laptopPort, 'someone-else');
      return agent;
    });
    if (tapped) {
      stack.wiretapAgent = tapped;
      targets.push({ id: 'detour-unmatched-wiretap', url: tapped.url, headers: {}, servedBy: 'app' });
    }
  }
  if (stack && wants('detour-matched') && !skipped['detour-matched']) {
    targets.push({ id: 'detour-matched', url: stack.agent.url, headers: { [HEADER_NAME]: DEV_HEADER_VALUE }, servedBy: 'laptop' });
  }
  if (stack && wants('detour-preview') && !skipped['detour-preview']) {
    // The same route as detour-matched, entered through the gateway instead of with the header: the two rows differ by the gateway only.
    const gateway = await phase(state, skipped, 'detour-preview', () => startPreviewGateway({ manager: stack.manager, daemon: stack.daemon, interceptName: stack.interceptName, profileDir: flags.cpuProf ? GATEWAY_PROFILE_DIR : undefined, ...server }));
    // `Host`, capitalised: wrk adds its own Host line unless the given header is spelt so, and which of two comes first varies from run to run.
    if (gateway) targets.push({ id: 'detour-preview', url: gateway.url, headers: { Host: gateway.host }, servedBy: 'laptop' });
  }
  const frontIds = ['haproxy-front', 'haproxy-front-hdr'].filter((id) => wants(id) && !skipped[id]);
  if (stack && frontIds.length > 0) {
    const front = await phase(state, skipped, 'haproxy-front', () => startFrontOfAgent({ router, agentUrl: stack.agent.url }));
    const why = skipped['haproxy-front'];
    delete skipped['haproxy-front'];
    if (!front) skip(frontIds, `HAProxy in front of the agent did not start: ${why}`);
    // The header-less majority, which never reaches the agent; then every request with a value nobody intercepts, which crosses both.
    if (front && wants('haproxy-front')) targets.push({ id: 'haproxy-front', url: front.url, headers: {}, servedBy: 'app' });
    if (front && wants('haproxy-front-hdr')) targets.push({ id: 'haproxy-front-hdr', url: front.url, headers: { [HEADER_NAME]: UNINTERCEPTED_HEADER_VALUE }, servedBy: 'app' });
  }
  return { upstream, targets, stack };
}

/**
 * HAProxy in front of the agent (issue 15's "C proxy in front", measured, not shipped). Both of its rows are
 * answered by the app, so before they are timed the developer's header must come back from the laptop: that
 * proves the header'd requests reach the agent, which routes them as usual.
 */
async function startFrontOfAgent({ router, agentUrl }) {
  const front = await startHaproxyFront({ ...router, agentUrl });
  const res = await request(new URL('/', front.url), { headers: { [HEADER_NAME]: DEV_HEADER_VALUE } });
  if (res.headers['x-served-by'] !== 'laptop') {
    await front.proc.stop();
    throw new Error(`the developer's header was answered by ${res.headers['x-served-by'] ?? `HTTP ${res.status}`}, not the laptop through the agent`);
  }
  return front;
}

async function measure(flags, state) {
  const skipped = {};
  const wants = (id) => flags.paths.includes(id) || flags.phases.includes(id);
  const skip = (ids, why) => { for (const id of ids.filter(wants)) skipped[id] = why; };

  // golang-go is a few hundred MB: only a full run that times go-httputil installs it; --quick uses it when present.
  const goWanted = wants('go-httputil');
  const notInstalled = !goWanted ? { go: 'not needed by this run' } : flags.quick ? { go: '--quick does not install golang-go (a full run does); go-httputil is skipped' } : {};
  const tools = ensureTools({ install: flags.install, notInstalled, log });
  for (const [name, why] of Object.entries(tools.missing)) if (name !== 'go' || goWanted) log(`${name}: ${why}`);
  const layout = cpuLayout(tools.taskset);
  if (layout.loadCpus && pinSelf(tools.taskset, layout.loadCpus)) log(`pinning: servers on CPU ${layout.serverCpus}, wrk and probes on CPU ${layout.loadCpus}`);
  else log(`not pinning (${layout.why ?? 'taskset -p failed'}): figures are noisier`);
  const server = { cpus: layout.serverCpus, tasksetPath: tools.taskset };

  state.work = await makeWorkDir();
  const { upstream, targets, stack } = await startServers({ flags, tools, server, workDir: state.work.dir, state, skipped, wants, skip });

  let paths = {};
  let agentMemory = null;
  if (targets.length > 0 && tools.wrk) {
    log(`comparing ${targets.map((t) => t.id).join(', ')}: ${flags.runs} run(s) × ${flags.durationS} s`);
    // Only while the agent is timed: the two-CPU phase alone starts it too, and an idle agent's RSS would pass for a result.
    const rss = stack && targets.some((t) => t.id.startsWith('detour-')) ? sampleRss({ agent: stack.agent.proc.pid }) : null;
    const compared = await phase(state, skipped, 'comparison', () => compare({
      targets, runs: flags.runs, durationS: flags.durationS, wrkPath: tools.wrk, wrkCpus: layout.loadCpus, tasksetPath: tools.taskset,
      expectBytes: { small: Buffer.byteLength(SMALL_BODY), '1m': 1 << 20 }, log,
    }));
    paths = compared?.results ?? {};
    Object.assign(skipped, compared?.skipped);
    if (rss) agentMemory = { hwmMiB: rss.stop().agent.hwmMiB };
  }
  // Later phases create intercepts on the service: they should wait for the acks of one agent, as before this row existed.
  if (stack?.meteredAgent) {
    // Proof that the row measured an agent that was counting: its own /metrics after the runs.
    const scraped = await request(new URL(stack.meteredAgent.metricsUrl), { timeoutMs: 10_000 }).catch((err) => ({ body: String(err) }));
    log(`detour-unmatched-metrics agent counted ${/^detour_agent_requests_total\{route="app"\} (\S+)$/m.exec(scraped.body)?.[1] ?? `nothing (${scraped.body.slice(0, 200)})`} unmatched requests`);
    await stack.meteredAgent.proc.stop();
  }
  if (stack?.wiretapAgent) {
    await stack.daemon.leave(`${WIRETAP_SERVICE}-wiretap`);
    await stack.wiretapAgent.proc.stop();
  }

  const detourPhase = (id) => stack && wants(id) && !skipped[id];
  let scaling = null;
  if (detourPhase('scaling')) {
    scaling = await phase(state, skipped, 'scaling', () => measureScaling({
      api: apiClient(stack.manager), service: SERVICE, counts: flags.interceptCounts, runs: flags.runs, durationS: flags.durationS,
      agentUrl: stack.agent.url, laptopPort: upstream.laptopPort, wrkPath: tools.wrk, wrkCpus: layout.loadCpus, tasksetPath: tools.taskset, log,
    }));
  }
  let scalingSigned = null;
  if (detourPhase('scaling-signed')) {
    // A manager of its own with --signed-keys, and an agent of the same service behind it: only signing differs from `scaling`.
    scalingSigned = await phase(state, skipped, 'scaling-signed', async () => {
      const manager = await startManager({ workDir: state.work.dir, args: ['--signed-keys'], name: 'detour-manager-signed', ...server });
      try {
        const agent = await startAgent({ service: SERVICE, appUrl: upstream.appUrl, manager, ...server });
        const api = apiClient(manager);
        const value = await api.bystanderValue();
        if (!/\.[A-Za-z0-9_-]{22}$/.test(value)) throw new Error(`the signed manager gave an unsigned value: ${value}`);
        try {
          return await measureScaling({
            api, service: SERVICE, counts: flags.interceptCounts, runs: flags.runs, durationS: flags.durationS, agentUrl: agent.url, laptopPort: upstream.laptopPort,
            wrkPath: tools.wrk, wrkCpus: layout.loadCpus, tasksetPath: tools.taskset, log, headers: { [HEADER_NAME]: value }, label: 'scaling-signed',
          });
        } finally {
          await agent.proc.stop();
        }
      } finally {
        await manager.proc.stop();
      }
    });
  }
  let activation = null;
  if (detourPhase('activation')) {
    activation = await phase(state, skipped, 'activation', async () => {
      log(`starting ${flags.fanoutAgents} agents for ${FAN_SERVICE}`);
      const fan = await Promise.all(Array.from({ length: flags.fanoutAgents }, () => startAgent({ service: FAN_SERVICE, appUrl: upstream.appUrl, manager: stack.manager, ...server })));
      const result = await measureActivation({
        daemon: stack.daemon, service: SERVICE, interceptName: stack.interceptName, agentUrl: stack.agent.url, fanService: FAN_SERVICE,
        fanUrls: fan.map((a) => a.url), laptopPort: upstream.laptopPort, headerValue: DEV_HEADER_VALUE, runs: flags.runs, log,
      });
      await Promise.all(fan.map((a) => a.proc.stop()));
      return result;
    });
  }
  let streaming = null;
  if (detourPhase('streaming')) {
    streaming = await phase(state, skipped, 'streaming', () => measureStreaming({
      agentUrl: stack.agent.url, headerValue: DEV_HEADER_VALUE, bytes: flags.streamBytes,
      pids: { agent: stack.agent.proc.pid, daemon: stack.daemon.pid, manager: stack.manager.proc.pid }, log,
    }));
  }
  let h2c = null;
  if (detourPhase('h2c')) {
    h2c = await phase(state, skipped, 'h2c', () => measureH2c({
      tools, workDir: state.work.dir, startAgent, manager: stack.manager, daemon: stack.daemon, headerName: HEADER_NAME, headerValue: DEV_HEADER_VALUE,
      server, loadCpus: layout.loadCpus, runs: flags.runs, durationS: flags.phaseDurationS, log,
    }));
    for (const [id, why] of Object.entries(h2c?.skipped ?? {})) skipped[id] = why;
  }
  let twoCpus = null;
  const twoCpuWhy = twoCpuLayout(layout).why;
  if (wants('two-cpus') && twoCpuWhy) skipped['two-cpus'] = twoCpuWhy;
  // A layout variant of routers the comparison already starts: --quick skips it to stay within CI's time.
  else if (wants('two-cpus') && flags.quick && !flags.onlyGiven) skipped['two-cpus'] = '--quick skips it (a full run or --only two-cpus measures it)';
  if (wants('two-cpus') && upstream && !skipped['two-cpus']) {
    twoCpus = await phase(state, skipped, 'two-cpus', () => measureTwoCpus({
      layout, tools, workDir: state.work.dir, upstream, headerValue: DEV_HEADER_VALUE, startAgent, manager: stack?.manager ?? null,
      runs: flags.runs, durationS: flags.phaseDurationS, expectBytes: { small: Buffer.byteLength(SMALL_BODY) }, log,
    }));
    for (const [id, why] of Object.entries(twoCpus?.skipped ?? {})) skipped[`two-cpus ${id}`] = why;
  }

  const result = {
    meta: {
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      host: hostname(),
      // os.cpus(), not availableParallelism(): the latter sees only the CPU this process is pinned to.
      cpus: cpus().length,
      node: process.versions.node,
      tools: [versionOf(tools.nginx, ['-v']), versionOf(tools.haproxy, ['-v']), versionOf(tools.wrk, ['-v']), versionOf(tools.h2load, ['--version']), versionOf(tools.go, ['version'])].filter(Boolean).map((v) => v.replace(/ - https:.*| Copyright.*/, '')).join(', '),
      commit: gitCommit(),
      quick: flags.quick,
      runs: flags.runs,
      durationS: flags.durationS,
      pinning: layout.loadCpus ? { serverCpus: layout.serverCpus, loadCpus: layout.loadCpus } : null,
    },
    skipped,
    paths,
    ratios: pathRatios(paths),
    agentMemory,
    scaling,
    scalingSigned,
    activation,
    streaming,
    h2c: h2c ? { paths: h2c.paths, ratios: h2c.ratios } : null,
    twoCpus,
  };
  result.targets = evaluateTargets(result);
  return result;
}

/** Replaces the text between DOC_MARKERS in docs/performance.md; false when the markers are missing. */
async function refreshDoc(markdown) {
  const doc = await readFile(DOC_URL, 'utf8').catch(() => '');
  const [start, end] = DOC_MARKERS.map((m) => doc.indexOf(m));
  if (start < 0 || end < start) return false;
  await writeFile(DOC_URL, `${doc.slice(0, start + DOC_MARKERS[0].length)}\n${markdown}\n${doc.slice(end)}`);
  return true;
}

async function main(argv) {
  let flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`bench: ${err.message} (npm run bench -- --help)`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const state = {};
  const onSignal = (sig) => {
    log(`${sig}: stopping everything the bench started`);
    void cleanup(state).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // Node exits quietly when a promise it waits on can never settle; that must not leave servers behind.
  process.once('beforeExit', () => {
    if (mainSettled) return;
    log('a phase stalled without settling; stopping everything');
    process.exitCode = 1;
    void cleanup(state);
  });
  const deadlineMs = flags.quick ? QUICK_DEADLINE_MS : FULL_DEADLINE_MS;
  // At the limit every process is stopped, so the running phase fails fast and
  // the report still shows what was measured; the backstop covers a phase stuck elsewhere.
  const deadline = setTimeout(() => {
    log(`time limit of ${deadlineMs / 1e3} s reached: stopping, then reporting what was measured`);
    state.expired = true;
    void stopAll();
    setTimeout(() => {
      log(`still running ${BACKSTOP_MS / 1e3} s after the time limit; exiting`);
      void cleanup(state).finally(() => process.exit(1));
    }, BACKSTOP_MS).unref();
  }, deadlineMs);
  deadline.unref();

  const t0 = performance.now();
  let result;
  try {
    result = await measure(flags, state);
  } finally {
    await cleanup(state);
  }
  // The agent writes its profile as it exits, so this waits for cleanup.
  if (flags.cpuProf) result.profile = await summariseProfile(PROFILE_DIR);
  const complete = !flags.quick && flags.paths.length === PATHS.length && flags.phases.length === PHASES.length;
  const dir = flags.quick ? QUICK_RESULTS_DIR : complete ? RESULTS_DIR : PARTIAL_RESULTS_DIR;
  await mkdir(dir, { recursive: true });
  await writeFile(new URL('latest.json', dir), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(new URL('latest.md', dir), toMarkdown(result));
  await writeFile(new URL('ratios.svg', dir), ratiosSvg(result));
  if (complete && (await refreshDoc(toMarkdown(result)))) log('updated the latest table in docs/performance.md');
  console.log(toTerminal(result));
  const shown = fileURLToPath(dir).replace(`${process.cwd()}/`, '');
  console.log(`\n[bench] done in ${((performance.now() - t0) / 1e3).toFixed(0)} s; wrote ${shown}latest.json, latest.md, ratios.svg`);
  // Skipped paths are reported above, not failed: the bench is a measurement, not a test (issue 5: no thresholds in CI).
  return 0;
}

let mainSettled = false;
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
).finally(() => { mainSettled = true; });
