import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const DETOUR_BIN = `${REPO_ROOT}packages/cli/bin/detour.js`;
export const ECHO_APP = `${REPO_ROOT}test/e2e/support/echo-app.mjs`;
export const TCP_ECHO_APP = `${REPO_ROOT}test/e2e/support/tcp-echo-app.mjs`;
export const FAULTY_APP = `${REPO_ROOT}test/e2e/support/faulty-app.mjs`;

export interface Started {
  child: ChildProcess;
  /** First capture group of the ready line (usually a URL). */
  value: string;
  /** Everything the process wrote to stderr so far (for failure messages). */
  stderr: () => string;
  /** The lines the process wrote to stdout so far (the last 200). */
  stdout: () => string[];
}

/**
 * How a node process is started: `[process.execPath]`, or with a wrapper in
 * front (`ip netns exec NS node`) for a test that runs it in its own network namespace.
 */
export type Launcher = readonly string[];
const NODE: Launcher = [process.execPath];

/** Spawns a long-running process and waits (with a deadline) for its ready line on stdout. */
export async function startProcess(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000, launcher: Launcher = NODE): Promise<Started> {
  const child = spawn(launcher[0]!, [...launcher.slice(1), ...args], { env: { ...process.env, DETOUR_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const lines = createInterface({ input: child.stdout! });
  const stdout: string[] = [];
  lines.on('line', (line) => {
    stdout.push(line);
    if (stdout.length > 200) stdout.shift();
  });
  const value = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} not ready within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
    lines.on('line', (line) => {
      const match = ready.exec(line);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1] ?? line);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code ?? signal}) before ready; stderr: ${stderr}`));
    });
  });
  return { child, value, stderr: () => stderr, stdout: () => [...stdout] };
}

/** Stops a process and waits for it; SIGKILL after a grace period. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `detour` CLI to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000, launcher: Launcher = NODE): Promise<CliResult> {
  const child = spawn(launcher[0]!, [...launcher.slice(1), DETOUR_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout, stderr };
}

/** Polls `check` until it returns a value other than undefined, or fails after the deadline. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${last === undefined ? '' : `: ${String(last)}`}`);
}

/** Resident set size of a process in bytes, read from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb ?? 0) * 1024;
}

/**
 * Runs `work` while sampling the RSS of `pids` every 50 ms. Resolves with its
 * result and, per process, how far its RSS peaked above where it started (bytes).
 */
export async function rssGrowthDuring<T>(pids: number[], work: () => Promise<T>): Promise<{ result: T; growth: number[] }> {
  const before = pids.map((pid) => rssBytes(pid));
  const peaks = [...before];
  const timer = setInterval(() => pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i]!, rssBytes(pid)))), 50);
  try {
    const result = await work();
    return { result, growth: peaks.map((peak, i) => peak - before[i]!) };
  } finally {
    clearInterval(timer);
  }
}
