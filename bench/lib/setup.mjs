import { spawnSync } from 'node:child_process';
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import { tmpdir, availableParallelism } from 'node:os';

/**
 * The machine-level setup: a private work directory and the CPU layout.
 *
 * CPU layout: with taskset and at least 2 CPUs, the load generator (wrk, and
 * this process's probes and stream clients) gets the last CPU and everything
 * being measured (the upstream nginx, the proxy, and for detour the agent,
 * manager and daemon) gets the others. Every path then has the same CPUs for
 * its whole server side, and wrk never steals cycles from the path it times.
 */

/** { serverCpus, loadCpus } as taskset lists, or nulls when pinning is impossible. */
export function cpuLayout(tasksetPath) {
  const n = availableParallelism();
  if (!tasksetPath || n < 2) return { serverCpus: null, loadCpus: null, why: tasksetPath ? `only ${n} CPU` : 'taskset missing' };
  return { serverCpus: n === 2 ? '0' : `0-${n - 2}`, loadCpus: String(n - 1), why: null };
}

/** Moves this process (and so its later children without an explicit pin) onto `cpus`. */
export function pinSelf(tasksetPath, cpus) {
  const res = spawnSync(tasksetPath, ['-p', '-c', cpus, String(process.pid)], { encoding: 'utf8' });
  return res.status === 0;
}

/** A private directory; world-readable because nginx workers may run as another user. */
export async function makeWorkDir() {
  const dir = await mkdtemp(`${tmpdir()}/detour-bench-`);
  await chmod(dir, 0o755);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** First line of `cmd args` output, for the report's provenance line. */
export function versionOf(cmd, args) {
  if (!cmd) return null;
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5_000 });
  return `${res.stdout ?? ''}${res.stderr ?? ''}`.trim().split('\n')[0] || null;
}
