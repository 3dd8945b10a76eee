import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { start, run } from './procs.mjs';
import { median, ratio } from './stats.mjs';

/**
 * The h2c phase (issue 3: "npm run bench gains an h2c/gRPC row"): HTTP/2 with
 * prior knowledge, gRPC's transport, timed with h2load. Three paths to the same
 * kind of app: direct, through the agent unmatched (routed per stream, pooled
 * HTTP/2 to the app) and matched (agent → manager → daemon → laptop h2c app).
 * Runs are interleaved and medians reported, as in the HTTP/1.1 comparison.
 */

const APP = fileURLToPath(new URL('./h2c-app.mjs', import.meta.url));
export const H2C_SERVICE = 'bench-h2c';
/** h2load: 8 connections, 16 concurrent streams each, one thread (the load CPU). */
const LOAD = { clients: 8, streams: 16 };
const START_TIMEOUT_MS = 15_000;

async function startApp(name, { cpus, tasksetPath }) {
  const proc = start(`h2c-${name}`, process.execPath, [APP, name], { cpus, tasksetPath });
  const [, url] = await proc.waitFor(/listening on (http:\/\/\S+)/, START_TIMEOUT_MS);
  return { proc, url };
}

/** One request over HTTP/2; resolves who served it, so no path is timed while it routes wrongly. */
function servedBy(url, headers) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const stream = session.request({ ':path': '/', ...headers }, { endStream: true });
    stream.on('response', (h) => {
      stream.resume();
      stream.on('end', () => {
        session.close();
        resolve(h[':status'] === 200 ? h['x-served-by'] : `HTTP ${h[':status']}`);
      });
    });
    stream.on('error', reject);
  });
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

async function h2load({ h2loadPath, url, headers, durationS, cpus, tasksetPath }) {
  const args = ['-D', String(durationS), '-c', String(LOAD.clients), '-m', String(LOAD.streams), '-t', '1', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), `${url}/`];
  const res = await run('h2load', h2loadPath, args, { cpus, tasksetPath, timeoutMs: (durationS + 30) * 1000 });
  if (res.code !== 0) throw new Error(`h2load exited ${res.code}: ${res.output.slice(-300)}`);
  return parseH2load(res.stdout);
}

/**
 * @returns {Promise<{ paths: Record<string, { rps: number, meanMs: number, errors: number, rpsRatioDirect: number|null }>, skipped: Record<string, string> }>}
 */
export async function measureH2c({ h2loadPath, startAgent, manager, daemon, headerName, headerValue, server, loadCpus, runs, durationS, log }) {
  const app = await startApp('app', server);
  const laptop = await startApp('laptop', server);
  const laptopPort = Number(new URL(laptop.url).port);
  try {
    const agent = await startAgent({ service: H2C_SERVICE, appUrl: app.url, manager, ...server });
    await daemon.intercept(H2C_SERVICE, laptopPort, headerValue);
    const targets = [
      { id: 'h2c-direct', url: app.url, headers: {}, expect: 'app' },
      { id: 'h2c-unmatched', url: agent.url, headers: {}, expect: 'app' },
      { id: 'h2c-matched', url: agent.url, headers: { [headerName]: headerValue }, expect: 'laptop' },
    ];
    const skipped = {};
    const live = [];
    for (const target of targets) {
      const who = await servedBy(target.url, target.headers).catch((err) => `error: ${err.message}`);
      if (who === target.expect) live.push(target);
      else skipped[target.id] = `served by ${who}, expected ${target.expect}`;
    }
    const raw = Object.fromEntries(live.map((t) => [t.id, []]));
    for (let i = 0; i < runs; i++) {
      for (const target of live.map((_, j) => live[(j + i) % live.length])) {
        const figures = await h2load({ h2loadPath, url: target.url, headers: target.headers, durationS, cpus: loadCpus, tasksetPath: server.tasksetPath });
        raw[target.id].push(figures);
        log(`h2c run ${i + 1}/${runs} ${target.id.padEnd(14)} ${figures.rps.toFixed(0).padStart(7)} req/s  mean ${figures.meanMs.toFixed(2)} ms${figures.errors ? `  ${figures.errors} errors` : ''}`);
      }
    }
    const paths = {};
    for (const [id, list] of Object.entries(raw)) {
      // Median of per-round ratios to direct, as in the HTTP/1.1 comparison: it cancels the machine's drift between rounds.
      const perRound = list.map((f, i) => (raw['h2c-direct']?.[i] ? ratio(f.rps, raw['h2c-direct'][i].rps) : null)).filter((r) => r !== null);
      paths[id] = {
        rps: median(list.map((f) => f.rps)),
        meanMs: median(list.map((f) => f.meanMs)),
        errors: list.reduce((n, f) => n + f.errors, 0),
        rpsRatioDirect: perRound.length > 0 ? median(perRound) : null,
      };
    }
    await agent.proc.stop();
    return { paths, skipped };
  } finally {
    await Promise.all([app.proc.stop(), laptop.proc.stop()]);
  }
}
