import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { start, run } from './procs.mjs';
import { median, medianRatio } from './stats.mjs';
import { grpcFrame, h2Request } from './h2.mjs';
import { startH2cNginx, startH2cHaproxy } from './servers.mjs';

/**
 * The h2c phase (issue 3: "npm run bench gains an h2c/gRPC row"; issue 15:
 * anchored on real proxies): HTTP/2 with prior knowledge, gRPC's transport,
 * timed with h2load. Five paths to the same kind of app: direct, through nginx
 * (`grpc_pass`) and HAProxy (`proto h2`) routing on the header, through the
 * agent unmatched (routed per stream, pooled HTTP/2 to the app) and matched
 * (agent → manager → daemon → laptop h2c app). Two workloads: a plain GET and
 * a unary gRPC call. Runs are interleaved with the starting path rotated, and
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

/** The workloads every path is timed with; `grpc` POSTs GRPC_REQUEST (h2load -d) to a method path. */
export const H2C_WORKLOADS = [
  { id: 'plain', path: '/', headers: {} },
  { id: 'grpc', path: '/bench.Echo/Unary', headers: GRPC_HEADERS, body: GRPC_REQUEST },
];

async function startApp(name, { cpus, tasksetPath }) {
  const proc = start(`h2c-${name}`, process.execPath, [APP, name], { cpus, tasksetPath });
  const [, url] = await proc.waitFor(/listening on (http:\/\/\S+)/, START_TIMEOUT_MS);
  return { proc, url };
}

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

/** Starts nginx and HAProxy as h2c fronts to the h2c app; what cannot start is recorded in `skipped`. */
async function startFronts({ tools, workDir, server, app, laptop, headerValue, skipped }) {
  const opts = { workDir, tools, cpus: server.cpus, appPort: Number(new URL(app.url).port), laptopPort: Number(new URL(laptop.url).port), headerValue };
  const fronts = [];
  for (const [id, tool, startFront] of [['h2c-nginx', 'nginx', startH2cNginx], ['h2c-haproxy', 'haproxy', startH2cHaproxy]]) {
    if (!tools[tool]) {
      skipped[id] = `${tool}: ${tools.missing[tool]}`;
      continue;
    }
    try {
      fronts.push({ id, ...(await startFront(opts)) });
    } catch (err) {
      skipped[id] = `did not start: ${err.message.split('\n')[0]}`;
    }
  }
  return fronts;
}

/**
 * @returns {Promise<{ paths: Record<string, Record<string, { rps: number|null, meanMs: number|null, errors: number, runs: object[] }>>, ratios: object, skipped: Record<string, string> }>}
 */
export async function measureH2c({ tools, workDir, startAgent, manager, daemon, headerName, headerValue, server, loadCpus, runs, durationS, log }) {
  const app = await startApp('app', server);
  const laptop = await startApp('laptop', server);
  const laptopPort = Number(new URL(laptop.url).port);
  const skipped = {};
  const fronts = await startFronts({ tools, workDir, server, app, laptop, headerValue, skipped });
  const dataFile = `${workDir}/grpc-request.bin`;
  await writeFile(dataFile, GRPC_REQUEST);
  try {
    const agent = await startAgent({ service: H2C_SERVICE, appUrl: app.url, manager, ...server });
    await daemon.intercept(H2C_SERVICE, laptopPort, headerValue);
    const targets = [
      { id: 'h2c-direct', url: app.url, headers: {}, expect: 'app' },
      ...fronts.map((f) => ({ id: f.id, url: f.url, headers: {}, expect: 'app' })),
      { id: 'h2c-unmatched', url: agent.url, headers: {}, expect: 'app' },
      { id: 'h2c-matched', url: agent.url, headers: { [headerName]: headerValue }, expect: 'laptop' },
    ];
    // Checked per workload: a front that proxies plain h2c but breaks gRPC trailers still gets its plain row.
    const live = {};
    for (const w of H2C_WORKLOADS) {
      live[w.id] = [];
      for (const target of targets) {
        const why = await verify(target, w);
        if (why) skipped[`${target.id} (${w.id})`] = why;
        else live[w.id].push(target);
      }
    }
    for (const [id, why] of Object.entries(skipped)) log(`h2c: skipping ${id}: ${why}`);
    const raw = Object.fromEntries(targets.map((t) => [t.id, Object.fromEntries(H2C_WORKLOADS.map((w) => [w.id, []]))]));
    for (let i = 0; i < runs; i++) {
      for (const w of H2C_WORKLOADS) {
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
            ? `h2c run ${i + 1}/${runs} ${w.id.padEnd(5)} ${target.id.padEnd(14)} failed: ${figures.error.split('\n')[0]}`
            : `h2c run ${i + 1}/${runs} ${w.id.padEnd(5)} ${target.id.padEnd(14)} ${figures.rps.toFixed(0).padStart(7)} req/s  mean ${figures.meanMs.toFixed(2)} ms${figures.errors ? `  ${figures.errors} errors` : ''}`);
        }
      }
    }
    const paths = {};
    for (const [id, byWorkload] of Object.entries(raw)) {
      const measured = Object.entries(byWorkload).filter(([, list]) => list.length > 0);
      if (measured.length > 0) paths[id] = Object.fromEntries(measured.map(([w, list]) => [w, summarise(list)]));
    }
    await agent.proc.stop();
    return { paths, ratios: h2cRatios(paths), skipped };
  } finally {
    await Promise.all([app.proc.stop(), laptop.proc.stop(), ...fronts.map((f) => f.proc.stop())]);
  }
}
