import { writeFile, mkdir, truncate, open, copyFile } from 'node:fs/promises';
import { start, run, freePort, lastLines } from './procs.mjs';
import { waitForHttp } from './http.mjs';
import { waitForH2 } from './h2.mjs';
import { fileURLToPath } from 'node:url';
import { upstreamNginx, routerNginx, routerHaproxy, h2cNginx, h2cHaproxy, h2cUpstreamNginx, frontHaproxy } from './configs.mjs';
import { versionOf } from './setup.mjs';

/**
 * Starts the nginx upstream and the comparison proxies from generated configs,
 * and builds and starts the Go reverse proxy. Ports come from the kernel
 * (freePort); if another process grabs one in the gap before nginx binds it,
 * the start is retried on fresh ports.
 */

const START_ATTEMPTS = 3;
const READY_TIMEOUT_MS = 10_000;
const asRoot = process.getuid?.() === 0;

async function startWithRetry(label, attempt) {
  let lastErr;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    try {
      return await attempt();
    } catch (err) {
      lastErr = err;
    }
  }
  throw new Error(`${label} did not start after ${START_ATTEMPTS} attempts: ${lastErr.message}`);
}

/** Starts `cmd` and waits until `probe()` resolves; `probe` is an HTTP/1.1 URL to poll or a function. */
async function startAndProbe(name, cmd, args, probe, opts) {
  const proc = start(name, cmd, args, opts);
  const exited = proc.exited.then((code) => { throw new Error(`${name} exited (${code}): ${lastLines(proc.output())}`); });
  const ready = typeof probe === 'function' ? probe() : waitForHttp(probe, { timeoutMs: READY_TIMEOUT_MS });
  try {
    await Promise.race([ready, exited]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  exited.catch(() => {}); // a later exit is reported by the phase that needs the process
  return proc;
}

/**
 * Writes the 1 MiB and the streaming files and starts the upstream nginx.
 * The streaming file is sparse: it costs no disk, and nginx reads zeros.
 */
export async function startUpstream({ workDir, tools, cpus, bigBytes }) {
  const wwwDir = `${workDir}/www`;
  await mkdir(`${workDir}/upstream-tmp`, { recursive: true });
  await mkdir(wwwDir, { recursive: true });
  await writeFile(`${wwwDir}/1m`, Buffer.alloc(1 << 20, 'x'));
  await (await open(`${wwwDir}/big`, 'w')).close();
  await truncate(`${wwwDir}/big`, bigBytes);
  const sink = start('sink', process.execPath, [fileURLToPath(new URL('./sink-server.mjs', import.meta.url))], { cpus, tasksetPath: tools.taskset });
  const [, sinkPort] = await sink.waitFor(/sink listening on (\d+)/, READY_TIMEOUT_MS);
  return startWithRetry('upstream nginx', async () => {
    const appPort = await freePort();
    const laptopPort = await freePort();
    const conf = `${workDir}/upstream.conf`;
    await writeFile(conf, upstreamNginx({ workDir, wwwDir, asRoot, appPort, laptopPort, sinkPort }));
    const proc = await startAndProbe('upstream-nginx', tools.nginx, ['-c', conf, '-p', workDir], `http://127.0.0.1:${laptopPort}/`, { cpus, tasksetPath: tools.taskset });
    await waitForHttp(`http://127.0.0.1:${appPort}/`, { timeoutMs: READY_TIMEOUT_MS });
    return { proc, appPort, laptopPort, appUrl: `http://127.0.0.1:${appPort}`, laptopUrl: `http://127.0.0.1:${laptopPort}` };
  });
}

/** Starts an nginx whose config `configFor(port)` writes under `name` in the work directory. */
async function startNginx({ name, workDir, tools, cpus, configFor, probeFor }) {
  await mkdir(`${workDir}/${name}-tmp`, { recursive: true });
  return startWithRetry(name, async () => {
    const port = await freePort();
    const conf = `${workDir}/${name}.conf`;
    await writeFile(conf, configFor(port));
    const url = `http://127.0.0.1:${port}`;
    const proc = await startAndProbe(name, tools.nginx, ['-c', conf, '-p', workDir], probeFor(url), { cpus, tasksetPath: tools.taskset });
    return { proc, url };
  });
}

/** Starts a HAProxy from `configFor(port)`, written under `name` in the work directory. */
async function startHaproxyWith({ name, workDir, tools, cpus, configFor, probeFor }) {
  return startWithRetry(name, async () => {
    const port = await freePort();
    const conf = `${workDir}/${name}.cfg`;
    await writeFile(conf, configFor(port));
    const url = `http://127.0.0.1:${port}`;
    // -db: stay in the foreground so the bench owns the process.
    const proc = await startAndProbe(name, tools.haproxy, ['-f', conf, '-db'], probeFor(url), { cpus, tasksetPath: tools.taskset });
    return { proc, url };
  });
}

const http1Probe = (url) => `${url}/`;
const h2cProbe = (url) => () => waitForH2(url, { timeoutMs: READY_TIMEOUT_MS });

/** nginx routing on `x-telepresence-id` with a map; `workers` > 1 only in the two-CPU phase. */
export function startNginxRouter({ workDir, tools, cpus, upstream, headerValue, name = 'router', workers = 1 }) {
  const configFor = (port) => routerNginx({ workDir, asRoot, name, workers, port, appPort: upstream.appPort, laptopPort: upstream.laptopPort, headerValue });
  return startNginx({ name, workDir, tools, cpus, configFor, probeFor: http1Probe });
}

/** HAProxy routing on `x-telepresence-id` with an ACL; `threads` > 1 only in the two-CPU phase. */
export function startHaproxy({ workDir, tools, cpus, upstream, headerValue, name = 'haproxy', threads = 1 }) {
  const configFor = (port) => routerHaproxy({ threads, port, appPort: upstream.appPort, laptopPort: upstream.laptopPort, headerValue });
  return startHaproxyWith({ name, workDir, tools, cpus, configFor, probeFor: http1Probe });
}

/**
 * HAProxy in front of the agent (the "C proxy in front" design, measured, not shipped): requests without
 * `x-telepresence-id` go to the app, the others to the agent at `agentUrl`.
 */
export function startHaproxyFront({ workDir, tools, cpus, upstream, agentUrl }) {
  const configFor = (port) => frontHaproxy({ port, appPort: upstream.appPort, agentPort: Number(new URL(agentUrl).port) });
  return startHaproxyWith({ name: 'haproxy-front', workDir, tools, cpus, configFor, probeFor: http1Probe });
}

/** nginx 1.25.1 replaced `listen … http2` with `http2 on;`. */
function nginxHasHttp2On(nginxPath) {
  const [major, minor, patch] = (/nginx\/(\d+)\.(\d+)\.(\d+)/.exec(versionOf(nginxPath, ['-v']) ?? '') ?? []).slice(1).map(Number);
  return major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
}

/** nginx as an h2c front (`grpc_pass`), routing on `x-telepresence-id` to the h2c app or laptop. */
export function startH2cNginx({ workDir, tools, cpus, appPort, laptopPort, headerValue, name = 'h2c-nginx' }) {
  const http2OnDirective = nginxHasHttp2On(tools.nginx);
  const configFor = (port) => h2cNginx({ workDir, asRoot, name, port, appPort, laptopPort, headerValue, http2OnDirective });
  return startNginx({ name, workDir, tools, cpus, configFor, probeFor: h2cProbe });
}

/** HAProxy as an h2c front (`proto h2` both sides), routing on `x-telepresence-id`. */
export function startH2cHaproxy({ workDir, tools, cpus, appPort, laptopPort, headerValue, name = 'h2c-haproxy' }) {
  const configFor = (port) => h2cHaproxy({ port, appPort, laptopPort, headerValue });
  return startHaproxyWith({ name, workDir, tools, cpus, configFor, probeFor: h2cProbe });
}

/**
 * The h2c phase's nginx app and laptop (two server blocks of one nginx); resolves
 * { proc, app: { url, port }, laptop: { url, port } }, the shape of the Node apps in h2c.mjs.
 */
export async function startH2cUpstream({ workDir, tools, cpus }) {
  const http2OnDirective = nginxHasHttp2On(tools.nginx);
  await mkdir(`${workDir}/h2c-upstream-tmp`, { recursive: true });
  return startWithRetry('h2c upstream nginx', async () => {
    const [appPort, laptopPort] = [await freePort(), await freePort()];
    const conf = `${workDir}/h2c-upstream.conf`;
    await writeFile(conf, h2cUpstreamNginx({ workDir, asRoot, appPort, laptopPort, http2OnDirective }));
    const side = (port) => ({ url: `http://127.0.0.1:${port}`, port });
    const probe = () => Promise.all([appPort, laptopPort].map((port) => waitForH2(side(port).url, { timeoutMs: READY_TIMEOUT_MS })));
    const proc = await startAndProbe('h2c-upstream-nginx', tools.nginx, ['-c', conf, '-p', workDir], probe, { cpus, tasksetPath: tools.taskset });
    return { proc, app: side(appPort), laptop: side(laptopPort) };
  });
}

const GO_SOURCE = fileURLToPath(new URL('./go-router.go', import.meta.url));
/** A cold build of net/http took ~5 s here; a minute means the machine is stuck. */
const GO_BUILD_TIMEOUT_MS = 120_000;

/**
 * Builds bench/lib/go-router.go in the work directory and starts it with
 * GOMAXPROCS=1 (one thread running Go code, as the other routers get one
 * worker). The build has no network: standard library only, GOPROXY=off,
 * GOTOOLCHAIN=local (a newer Go must not fetch a toolchain), caches in the
 * work directory. cgo is left at Go's default: Debian's Go 1.19 ships its
 * standard library precompiled with cgo and links it internally (no C
 * compiler runs; 3 s here), while CGO_ENABLED=0 recompiles net and
 * everything above it (24 s on this loaded machine, too slow for --quick).
 */
export async function startGoRouter({ workDir, tools, cpus, upstream, headerValue }) {
  const dir = `${workDir}/go-router`;
  await mkdir(dir, { recursive: true });
  await copyFile(GO_SOURCE, `${dir}/main.go`);
  await writeFile(`${dir}/go.mod`, 'module detourbench/gorouter\n\ngo 1.19\n');
  const goEnv = {
    ...process.env, GOCACHE: `${workDir}/go-cache`, GOPATH: `${workDir}/gopath`, GOFLAGS: '', GOPROXY: 'off', GOTOOLCHAIN: 'local', GOTELEMETRY: 'off',
  };
  const build = await run('go build', tools.go, ['build', '-o', 'router', '.'], { cwd: dir, env: goEnv, timeoutMs: GO_BUILD_TIMEOUT_MS });
  if (build.code !== 0) throw new Error(`go build exited ${build.code}: ${lastLines(build.output)}`);
  const proc = start('go-httputil', `${dir}/router`, ['-app', upstream.appUrl, '-laptop', upstream.laptopUrl, '-header-value', headerValue], {
    cpus, tasksetPath: tools.taskset, env: { ...process.env, GOMAXPROCS: '1' },
  });
  const [, url] = await proc.waitFor(/go-httputil listening on (http:\/\/\S+)/, READY_TIMEOUT_MS);
  return { proc, url, buildMs: build.ms };
}
