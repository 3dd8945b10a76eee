import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Every process the bench starts goes through here, so that one `stopAll()`
 * ends them all: on success, on error and on Ctrl-C (see run.mjs). Children
 * get their own process group so that nginx's and HAProxy's workers die with
 * their master.
 */

/** How long a child gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** Bytes of a child's output kept for error messages. */
const TAIL_BYTES = 4_096;

const children = new Set();
/** Set by stopAll: a process started after it would outlive the bench. */
let stopping = false;

/**
 * Starts `cmd args`, pinned to `cpus` (e.g. "0") through taskset when given.
 * taskset execs the command, so the returned pid is the command's own.
 * @returns {{ pid: number, name: string, exited: Promise<number|null>, output: () => string, waitFor: (re: RegExp, timeoutMs: number) => Promise<RegExpMatchArray>, stop: () => Promise<void> }}
 */
export function start(name, cmd, args, { cpus, tasksetPath, env, cwd, keepBytes = TAIL_BYTES } = {}) {
  if (stopping) throw new Error(`not starting ${name}: the bench is stopping`);
  const [file, argv] = cpus != null && tasksetPath ? [tasksetPath, ['-c', cpus, cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { env: env ?? process.env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let stdout = '';
  const watchers = new Set();
  const onData = (chunk) => {
    tail = (tail + chunk.toString('utf8')).slice(-keepBytes);
    for (const w of watchers) w();
  };
  child.stdout.on('data', (chunk) => { stdout = (stdout + chunk.toString('utf8')).slice(-keepBytes); });
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exitCode;
  const exited = new Promise((resolve) => {
    child.once('error', (err) => { tail += `\nspawn error: ${err.message}`; resolve(null); });
    // 'close', not 'exit': only then has all of the child's output been read (wrk's report comes last).
    child.once('close', (code, signal) => resolve(code ?? signal));
  }).then((code) => {
    exitCode = code;
    children.delete(handle);
    for (const w of watchers) w();
    return code;
  });

  const handle = {
    pid: child.pid,
    name,
    exited,
    /** stdout and stderr interleaved (the last `keepBytes`). */
    output: () => tail,
    stdout: () => stdout,
    /** Resolves with the first match of `re` in the output; rejects if the child exits or time runs out. */
    waitFor(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = tail.match(re);
          if (m) return finish(() => resolve(m));
          if (exitCode !== undefined) finish(() => reject(new Error(`${name} exited (${exitCode}) before it was ready: ${lastLines(tail)}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`${name} not ready within ${timeoutMs} ms: ${lastLines(tail)}`))), timeoutMs);
        const finish = (fn) => { clearTimeout(timer); watchers.delete(check); fn(); };
        watchers.add(check);
        check();
      });
    },
    stop: () => stopChild(handle, child),
  };
  children.add(handle);
  return handle;
}

/**
 * A child's output on one line, for one-line error reports: the first line
 * naming an error when there is one (a Node stack trace's head says more
 * than its tail), otherwise the last lines.
 */
export function lastLines(text, maxChars = 300) {
  const lines = text.trim().split('\n').map((l) => l.trim()).filter(Boolean);
  const errorLine = lines.find((l) => /^\w*Error\b/.test(l));
  const flat = errorLine ?? lines.join(' | ');
  return flat.length > maxChars ? `…${flat.slice(-maxChars)}` : flat || '(no output)';
}

async function stopChild(handle, child) {
  if (!children.has(handle)) return;
  const signalGroup = (sig) => {
    try { process.kill(-child.pid, sig); } catch { /* already gone */ }
  };
  signalGroup('SIGTERM');
  const timer = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
  await handle.exited;
  clearTimeout(timer);
  // Workers of a master that died first may linger in the group.
  signalGroup('SIGKILL');
}

/**
 * Registers a process the bench caused but did not spawn itself (the daemon
 * that `detour connect` forks), so that `stopAll()` ends it too.
 */
export function adopt(name, pid) {
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  const handle = {
    pid,
    name,
    async stop() {
      if (!children.delete(handle)) return;
      try { process.kill(pid, 'SIGTERM'); } catch { return; }
      const deadline = performance.now() + STOP_GRACE_MS;
      while (alive() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive()) try { process.kill(pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
    },
  };
  children.add(handle);
  return handle;
}

/** Stops every child still running, newest first (proxies before their upstreams). */
export async function stopAll() {
  stopping = true;
  await Promise.all([...children].reverse().map((h) => h.stop()));
}

/** Runs a command to completion, killing it after `timeoutMs`; resolves with { code, stdout, output, ms }. */
export async function run(name, cmd, args, { timeoutMs, ...opts }) {
  const t0 = performance.now();
  // Commands whose output we parse (wrk, the CLI) print far less than this.
  const h = start(name, cmd, args, { keepBytes: 1 << 20, ...opts });
  const timer = setTimeout(() => { void h.stop(); }, timeoutMs);
  const code = await h.exited;
  clearTimeout(timer);
  return { code, stdout: h.stdout(), output: h.output(), ms: performance.now() - t0 };
}

/**
 * Asks the kernel for a free loopback port. nginx and HAProxy cannot report a
 * port they picked themselves, so we bind 0, read the port back and release it
 * for them; `listenWithRetry` in the callers covers the small race that leaves.
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}
