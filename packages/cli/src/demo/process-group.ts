import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { DetourError } from '@detour/core';

/**
 * The child processes the demo starts. Each is awaited until it prints the line
 * that says it is ready, with a deadline; all are stopped together.
 */
export class ProcessGroup {
  readonly #children: Array<{ name: string; child: ChildProcess }> = [];

  /** Starts a process and resolves with the first capture of `ready` in its stdout. */
  async start(name: string, command: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<string> {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#children.push({ name, child });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const lines = createInterface({ input: child.stdout! });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new DetourError('DETOUR_ERR_CLI_DAEMON_FAILED', `${name} did not start within ${timeoutMs} ms: ${stderr.trim()}`)), timeoutMs);
      lines.on('line', (line) => {
        const match = ready.exec(line);
        if (match !== null) {
          clearTimeout(timer);
          resolve(match[1] ?? line);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new DetourError('DETOUR_ERR_CLI_DAEMON_FAILED', `${name} exited (code ${code}) while starting: ${stderr.trim()}`));
      });
    });
  }

  /** Stops every process, newest first; SIGKILL after a grace period. */
  async stopAll(graceMs = 3_000): Promise<void> {
    const running = this.#children.reverse().filter(({ child }) => child.exitCode === null && child.signalCode === null);
    this.#children.length = 0;
    await Promise.all(
      running.map(async ({ child }) => {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** Runs a command to its end and resolves with its stdout; rejects with its stderr when it fails. */
export async function runToCompletion(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<string> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new DetourError('DETOUR_ERR_CLI_DAEMON_FAILED', `${args.join(' ')} failed: ${stderr.trim()}`);
  return stdout;
}
