import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { start, run } from './procs.mjs';
import { median, medianRatio } from './stats.mjs';
import { grpcFrame, h2Request } from './h2.mjs';
import { startH2cNginx, startH2cHaproxy, startH2cUpstream } from './servers.mjs';

/**
 * The h2c phase (issue 3: "npm run bench gains an h2c/gRPC row"; issue 15:
 * anchored on real proxies): HTTP/2 with prior knowledge, gRPC's transport,
 * timed with h2load. Five paths to the same kind of app: direct, through nginx
 * (`grpc_pass`) and HAProxy (`proto h2`) routing on the header, through the
 * agent unmatched (routed per stream, pooled HTTP/2 to the app) and matched
 * (agent → manager → daemon → laptop h2c app). Three workloads: a plain GET
 * and a unary gRPC call to a Node `node:http2` app, and a plain GET to an
 * nginx h2c app, which, unlike the Node app, is faster than the proxies in
 * front of it. Runs are interleaved with the starting path rotated, and
 * ratios are medians of per-round ratios, as in the HTTP/1.1 comparison.
 */

const APP = fileURLToPath(new URL('./h2c-app.mjs', import.meta.url));
export const H2C_SERVICE = 'bench-h2c';
/** h2load: 8 connections, 16 concurrent streams each, one thread (the load CPU). */
const LOAD = { clients: 8, streams: 16 };
const START_TIMEOUT_MS = 15_000;

/** A protobuf message with one 16-byte string field, as a small unary request would carry. */
const GRPC_REQUEST = grpcFrame(Buffer.concat([Buffer.from([0x0a, 16]), Buffer.from('detour bench rpc')]));
const GRPC_HEADERS = { 'content-type': 'application/grpc', te: 'trailers' };

/**
 * The workloads every path is timed with; `grpc` POSTs GRPC_REQUEST (h2load -d) to a method path.
 * `app` names the backend of H2C_APPS the workload's paths end at.
 */
export const H2C_WORKLOADS = [
  { id: 'plain', app: 'node', path: '/', headers: {} },
  { id: 'grpc', app: 'node', path: '/bench.Echo/Unary', headers: GRPC_HEADERS, body: GRPC_REQUEST },
  { id: 'nginxApp', app: 'nginx', path: '/', headers: {} },
];

async function startNodeApp(name, { cpus, tasksetPath }) {
  const proc = start(`h2c-${name}`, process.execPath, [APP, name], { cpus, tasksetPath });
  const [, url] = await proc.waitFor(/listening on (http:\/\/\S+)/, START_TIMEOUT_MS);
  return { proc, url, port: Number(new URL(url).port) };
}

/** The app and laptop pair of each backend, shaped { app: { url, port }, laptop: { url, port }, stop() }. */
const H2C_APPS = {
  // Two processes: each is one Node thread, the bottleneck of every path that ends at it.
  node: {
    label: 'Node app',
    service: H2C_SERVICE,
    async start({ server }) {
      const [app, laptop] = await Promise.all([startNodeApp('app', server), startNodeApp('laptop', server)]);
      return { app, laptop, stop: () => Promise.all([app.proc.stop(), laptop.proc.stop()]) };
    },
  },
  // One nginx with two server blocks, as the HTTP/1.1 upstream.
  nginx: {
    label: 'nginx app',
    service: `${H2C_SERVICE}-nginx`,
    async start({ tools, workDir, server }) {
      const upstream = await startH2cUpstream({ workDir, tools, cpus: server.cpus });
      return { ...upstream, stop: () => upstream.proc.stop() };
    },
  },
};

/** Why `target` does not answer `workload` as expected, or null; no path is timed while it routes wrongly. */
async function verify(target, workload) {
  try {
    const res = await h2Request(target.url, {
      method: workload.body ? 'POST' : 'GET', path: workload.path, headers: { ...target.headers, ...workload.headers }, body: workload.body,
    });
    if (res.status !== 200) return `${workload.path} answered HTTP ${res.status}`;
    if (res.headers['x-served-by'] !== target.expect) return `${workload.path} was served by ${res.headers['x-served-by'] ?? 'unknown'}, expected ${target.expect}`;
    // A gRPC call succeeds only with grpc-status 0 in the trailers (gRPC over HTTP/2, "Responses").
    if (workload.body && res.trailers['grpc-status'] !== '0') return `${workload.path} ended with grpc-status ${res.trailers['grpc-status'] ?? '(none)'}`;
    return null;
  } catch (err) {
    return `${workload.path}: ${err.message}`;
  }
}

/** Parses h2load's summary: requests/s, mean time per request, failures. */
export function parseH2load(text) {
  const rps = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(text);
  const done = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const time = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(text);
  if (!rps || !done || !time) throw new Error(`cannot read h2load output: ${text.slice(-300)}`);
  const ms = time[1].endsWith('us') ? Number.parseFloat(time[1]) / 1000 : time[1].endsWith('ms') ? Number.parseFloat(time[1]) : Number.parseFloat(time[1]) * 1000;
  return { rps: Number(rps[1]), meanMs: ms, errors: Number(done[2]) + Number(done[3]) + Number(done[4]) };
}

async function h2load({ h2loadPath, url, headers, dataFile, durationS, cpus, tasksetPath }) {
  const args = ['-D', String(durationS), '-c', String(LOAD.clients), '-m', String(LOAD.streams), '-t', '1', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])];
  if (dataFile) args.push('-d', dataFile);
  const res = await run('h2load', h2loadPath, [...args, url], { cpus, tasksetPath, timeoutMs: (durationS + 30) * 1000 });
  if (res.code !== 0) throw new Error(`h2load exited ${res.code}: ${res.output.slice(-300)}`);
  return parseH2load(res.stdout);
}

/** Medians of one path's runs of one workload; failed runs are kept in `runs` and left out of the figures. */
function summarise(list) {
  const ok = list.filter((f) => !f.error);
  return { rps: median(ok.map((f) => f.rps)), meanMs: median(ok.map((f) => f.meanMs)), errors: ok.reduce((n, f) => n + f.errors, 0), runs: list };
}

/** Each h2c path's rate as median per-round ratios to nginx's and to direct's, per workload. */
export function h2cRatios(paths) {
  const runs = (id, w) => paths[id]?.[w]?.runs;
  return Object.fromEntries(Object.keys(paths).map((id) => [id, Object.fromEntries(H2C_WORKLOADS.flatMap((w) => [
    [`${w.id}VsNginx`, medianRatio(runs(id, w.id), runs('h2c-nginx', w.id), 'rps')],
    [`${w.id}VsDirect`, medianRatio(runs(id, w.id), runs('h2c-direct', w.id), 'rps')],
  ]))]));
}

/**
 * Starts nginx and HAProxy as h2c fronts to one backend's app and laptop; what cannot start is recorded
 * in `skipped` under `id` plus `suffix`. Each front's process and files are named `id` plus `nameSuffix`, so
 * two backends' configs never collide.
 */
async function startFronts({ tools, workDir, server, backend, suffix, nameSuffix, headerValue, skipped }) {
  const opts = { workDir, tools, cpus: server.cpus, appPort: backend.app.port, laptopPort: backend.laptop.port, headerValue };
  const fronts = [];
  for (const [id, tool, startFront] of [['h2c-nginx', 'nginx', startH2cNginx], ['h2c-haproxy', 'haproxy', startH2cHaproxy]]) {
    if (!tools[tool]) {
      skipped[`${id}${suffix}`] = `${tool}: ${tools.missing[tool]}`;
      continue;
    }
    try {
      fronts.push({ id, ...(await startFront({ ...opts, name: `${id}${nameSuffix}` })) });
    } catch (err) {
      skipped[`${id}${suffix}`] = `did not start: ${err.message.split('\n')[0]}`;
    }
  }
  return fronts;
}

/**
 * One backend with everything in front of it: the two fronts, an agent of the backend's own service and
 * the developer's intercept to its laptop; resolves { targets, stop() }, the probes' and h2load's targets.
 */
async function startBackend(kind, { tools, workDir, server, startAgent, manager, daemon, headerName, headerValue, skipped }) {
  const spec = H2C_APPS[kind];
  // The Node app's rows keep their names and skip reasons from before the nginx app existed.
  const [suffix, nameSuffix] = kind === 'node' ? ['', ''] : [` (${spec.label})`, `-${kind}-app`];
  const backend = await spec.start({ tools, workDir, server });
  const stops = [backend.stop];
  try {
    const fronts = await startFronts({ tools, workDir, server, backend, suffix, nameSuffix, headerValue, skipped });
    stops.push(...fronts.map((f) => () => f.proc.stop()));
    const agent = await startAgent({ service: spec.service, appUrl: backend.app.url, manager, ...server });
    stops.push(() => agent.proc.stop());
    await daemon.intercept(spec.service, backend.laptop.port, headerValue);
    const targets = [
      { id: 'h2c-direct', url: backend.app.url, headers: {}, expect: 'app' },
      ...fronts.map((f) => ({ id: f.id, url: f.url, headers: {}, expect: 'app' })),
      { id: 'h2c-unmatched', url: agent.url, headers: {}, expect: 'app' },
      { id: 'h2c-matched', url: agent.url, headers: { [headerName]: headerValue }, expect: 'laptop' },
    ];
    return { targets, stop: () => Promise.all(stops.map((stop) => stop())) };
  } catch (err) {
    await Promise.all(stops.map((stop) => stop()));
    throw err;
  }
}

/**
 * @returns {Promise<{ paths: Record<string, Record<string, { rps: number|null, meanMs: number|null, errors: number, runs: object[] }>>, ratios: object, skipped: Record<string, string> }>}
 */
export async function measureH2c({ tools, workDir, startAgent, manager, daemon, headerName, headerValue, server, loadCpus, runs, durationS, log }) {
  const skipped = {};
  const dataFile = `${workDir}/grpc-request.bin`;
  await writeFile(dataFile, GRPC_REQUEST);
  const kinds = [...new Set(H2C_WORKLOADS.map((w) => w.app))];
  // Started side by side: each backend's agent and `detour intercept` cost a Node start-up, and --quick has little time.
  const started = await Promise.allSettled(kinds.map((kind) => startBackend(kind, { tools, workDir, server, startAgent, manager, daemon, headerName, headerValue, skipped })));
  const backends = Object.fromEntries(kinds.map((kind, i) => [kind, started[i].value]).filter(([, b]) => b));
  try {
    // A backend that did not start costs only its workloads; the Node app's failure stays the phase's failure, as before.
    started.forEach((s, i) => { if (s.status === 'rejected' && kinds[i] === 'node') throw s.reason; });
    const workloads = H2C_WORKLOADS.filter((w) => {
      const i = kinds.indexOf(w.app);
      if (started[i].status === 'rejected') skipped[`h2c (${w.id})`] = `the ${H2C_APPS[w.app].label} did not start: ${started[i].reason.message.split('\n')[0]}`;
      return Boolean(backends[w.app]);
    });
    // Checked per workload: a front that proxies plain h2c but breaks gRPC trailers still gets its plain row.
    const live = {};
    for (const w of workloads) {
      live[w.id] = [];
      for (const target of backends[w.app].targets) {
        const why = await verify(target, w);
        if (why) skipped[`${target.id} (${w.id})`] = why;
        else live[w.id].push(target);
      }
    }
    for (const [id, why] of Object.entries(skipped)) log(`h2c: skipping ${id}: ${why}`);
    const ids = [...new Set(Object.values(backends).flatMap((b) => b.targets.map((t) => t.id)))];
    const raw = Object.fromEntries(ids.map((id) => [id, Object.fromEntries(workloads.map((w) => [w.id, []]))]));
    for (let i = 0; i < runs; i++) {
      for (const w of workloads) {
        const order = live[w.id].map((_, j) => live[w.id][(j + i) % live[w.id].length]);
        for (const target of order) {
          let figures;
          try {
            figures = await h2load({
              h2loadPath: tools.h2load, url: `${target.url}${w.path}`, headers: { ...target.headers, ...w.headers }, dataFile: w.body ? dataFile : null,
              durationS, cpus: loadCpus, tasksetPath: server.tasksetPath,
            });
          } catch (err) {
            figures = { error: err.message };
          }
          raw[target.id][w.id].push(figures);
          log(figures.error
            ? `h2c run ${i + 1}/${runs} ${w.id.padEnd(8)} ${target.id.padEnd(14)} failed: ${figures.error.split('\n')[0]}`
            : `h2c run ${i + 1}/${runs} ${w.id.padEnd(8)} ${target.id.padEnd(14)} ${figures.rps.toFixed(0).padStart(7)} req/s  mean ${figures.meanMs.toFixed(2)} ms${figures.errors ? `  ${figures.errors} errors` : ''}`);
        }
      }
    }
    const paths = {};
    for (const [id, byWorkload] of Object.entries(raw)) {
      const measured = Object.entries(byWorkload).filter(([, list]) => list.length > 0);
      if (measured.length > 0) paths[id] = Object.fromEntries(measured.map(([w, list]) => [w, summarise(list)]));
    }
    return { paths, ratios: h2cRatios(paths), skipped };
  } finally {
    await Promise.all(Object.values(backends).map((b) => b.stop()));
  }
}
