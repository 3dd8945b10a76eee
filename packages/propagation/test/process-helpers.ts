// Starts fixture services as real child processes, loaded the way users load
// them, and stops them when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

/** The package root: children resolve `@detour/propagation/...` from here. */
export const PACKAGE_ROOT = path.resolve(__dirname, '../..');
export const FIXTURES = path.join(__dirname, 'fixtures');

export const REQUIRE = ['--require', '@detour/propagation/register'];
export const IMPORT = ['--import', '@detour/propagation/register.mjs'];

export interface Service {
  readonly child: ChildProcess;
  readonly ports: Record<string, number>;
  readonly stderr: () => string;
}

/** Spawns `node <flags> <fixture>` and resolves once it reports its ports over IPC. */
export async function startService(
  t: TestContext,
  fixture: string,
  flags: readonly string[],
  env: Record<string, string> = {},
): Promise<Service> {
  const child = spawn(process.execPath, [...flags, path.join(FIXTURES, fixture)], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    }
  });
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    child.on('message', (m: { ready?: Record<string, number> }) => {
      if (m.ready) resolve(m.ready);
    });
    child.on('exit', (code, signal) => reject(new Error(`${fixture} exited (${code ?? signal}) before it was ready: ${stderr}`)));
  });
  return { child, ports, stderr: () => stderr };
}

/** Resolves with a child's exit code and everything it wrote to stderr. */
export async function runToExit(fixture: string, flags: readonly string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...flags, path.join(FIXTURES, fixture)], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}
