import { writeFile, mkdir, truncate, open } from 'node:fs/promises';
import { start, freePort, lastLines } from './procs.mjs';
import { waitForHttp } from './http.mjs';
import { fileURLToPath } from 'node:url';
import { upstreamNginx, routerNginx, routerHaproxy } from './configs.mjs';

/**
 * Starts the nginx upstream and the two comparison proxies from generated
 * configs. Ports come from the kernel (freePort); if another process grabs one
 * in the gap before nginx binds it, the start is retried on fresh ports.
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

async function startAndProbe(name, cmd, args, probeUrl, opts) {
  const proc = start(name, cmd, args, opts);
  const exited = proc.exited.then((code) => { throw new Error(`${name} exited (${code}): ${lastLines(proc.output())}`); });
  try {
    await Promise.race([waitForHttp(probeUrl, { timeoutMs: READY_TIMEOUT_MS }), exited]);
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

/** nginx routing on `x-telepresence-id` with a map. */
export async function startNginxRouter({ workDir, tools, cpus, upstream, headerValue }) {
  await mkdir(`${workDir}/router-tmp`, { recursive: true });
  return startWithRetry('nginx router', async () => {
    const port = await freePort();
    const conf = `${workDir}/router.conf`;
    await writeFile(conf, routerNginx({ workDir, asRoot, port, appPort: upstream.appPort, laptopPort: upstream.laptopPort, headerValue }));
    const proc = await startAndProbe('nginx-router', tools.nginx, ['-c', conf, '-p', workDir], `http://127.0.0.1:${port}/`, { cpus, tasksetPath: tools.taskset });
    return { proc, url: `http://127.0.0.1:${port}` };
  });
}

/** HAProxy routing on `x-telepresence-id` with an ACL. */
export async function startHaproxy({ workDir, tools, cpus, upstream, headerValue }) {
  return startWithRetry('haproxy', async () => {
    const port = await freePort();
    const conf = `${workDir}/haproxy.cfg`;
    await writeFile(conf, routerHaproxy({ port, appPort: upstream.appPort, laptopPort: upstream.laptopPort, headerValue }));
    // -db: stay in the foreground so the bench owns the process.
    const proc = await startAndProbe('haproxy', tools.haproxy, ['-f', conf, '-db'], `http://127.0.0.1:${port}/`, { cpus, tasksetPath: tools.taskset });
    return { proc, url: `http://127.0.0.1:${port}` };
  });
}
