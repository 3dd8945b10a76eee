import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { DetourError } from '@detour/core';

/** How a command run by `run -- CMD` or `intercept -- CMD` ended: its exit code, or the signal to re-raise. */
export interface CommandOutcome {
  code: number;
  signal?: NodeJS.Signals;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs the user's command with the terminal and `env`, passes on the signals sent
 * to detour alone (Ctrl-C reaches the child through the terminal's process group
 * anyway), and resolves with how it ended.
 */
export async function runUserCommand(command: string[], env: NodeJS.ProcessEnv): Promise<CommandOutcome> {
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  try {
    const [code, signal] = (await Promise.race([
      once(child, 'exit'),
      once(child, 'error').then(([err]) => {
        throw new DetourError('DETOUR_ERR_CLI_USAGE', `cannot run ${command[0]}: ${(err as Error).message}`, { cause: err });
      }),
    ])) as [number | null, NodeJS.Signals | null];
    return signal === null ? { code: code ?? 1 } : { code: 128, signal };
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}
