import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { request } from 'undici';
import type { Intercept, ServiceInfo } from '@detour/protocol';
import { DETOUR_BIN, ECHO_APP, TCP_ECHO_APP, runCli, startProcess, stopProcess } from './processes.js';
import type { CliResult } from './processes.js';

const URL_LINE = /listening on (https?:\/\/\S+)/;

export interface Developer {
  name: string;
  env: NodeJS.ProcessEnv;
  home: string;
  /** This developer's laptop app. */
  localUrl: string;
  localPort: number;
  cli(args: string[]): Promise<CliResult>;
  /** Runs `detour intercept … --output json` and returns the parsed intercept; throws with stderr on failure. */
  intercept(service: string, args?: string[]): Promise<{ id: string; name: string; header: string | null }>;
  /** Intercepts by an exact header (the default `auto`) and returns the `[name, value]` a caller sends to reach it. */
  interceptHeader(service: string, args?: string[]): Promise<[string, string]>;
  daemonPid(): Promise<number>;
}

/**
 * A whole detour environment of real processes on 127.0.0.1: one manager,
 * services each made of an app and its agents, and developers each with a
 * daemon home and a local app. Everything is torn down by `close()`.
 */
export class Environment {
  readonly dir: string;
  readonly tokenFile: string;
  managerUrl = '';
  readonly #children = new Set<ChildProcess>();
  readonly #homes: string[] = [];
  #manager: ChildProcess | undefined;
  #managerStdout: () => string[] = () => [];
  #managerStderr: () => string = () => '';
  readonly #managerArgs: string[];
  readonly #managerEnv: NodeJS.ProcessEnv;

  private constructor(dir: string, managerArgs: string[], managerEnv: NodeJS.ProcessEnv) {
    this.dir = dir;
    this.tokenFile = join(dir, 'token');
    this.#managerArgs = managerArgs;
    this.#managerEnv = managerEnv;
  }

  /** `managerEnv`: more environment for the manager process (e.g. a DETOUR_LOG_LEVEL, or a NODE_OPTIONS preload). */
  static async create(options: { managerArgs?: string[]; managerEnv?: NodeJS.ProcessEnv } = {}): Promise<Environment> {
    const env = new Environment(await mkdtemp(join(tmpdir(), 'detour-e2e-')), options.managerArgs ?? [], options.managerEnv ?? {});
    await env.startManager();
    return env;
  }

  /** Starts (or restarts, on the same port) the manager. */
  async startManager(): Promise<void> {
    const port = this.managerUrl === '' ? '0' : new URL(this.managerUrl).port;
    const started = await startProcess([DETOUR_BIN, 'manager', '--port', port, '--token-file', this.tokenFile, ...this.#managerArgs], URL_LINE, this.#managerEnv);
    this.#track(started.child);
    this.#manager = started.child;
    this.#managerStdout = started.stdout;
    this.#managerStderr = started.stderr;
    this.managerUrl = started.value;
  }

  /** What the running manager printed on stdout so far (e.g. `agent injector listening on …`). */
  managerStdout(): string[] {
    return this.#managerStdout();
  }

  /** What the running manager logged on stderr so far (its last 20 000 characters). */
  managerStderr(): string {
    return this.#managerStderr();
  }

  async stopManager(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.#manager !== undefined) await stopProcess(this.#manager, signal);
  }

  async token(): Promise<string> {
    return (await readFile(this.tokenFile, 'utf8')).trim();
  }

  /** The intercepts of `service` as the manager lists them now (GET /v1/services). */
  async intercepts(service: string): Promise<Intercept[]> {
    const r = await request(`${this.managerUrl}/v1/services`, { headers: { authorization: `Bearer ${await this.token()}` } });
    const { services } = (await r.body.json()) as { services: ServiceInfo[] };
    return services.find((s) => s.name === service)?.intercepts ?? [];
  }

  /** Starts an app process (the echo app, or `node ...command` when given); resolves with its URL. */
  async app(name: string, command?: string[]): Promise<{ url: string; child: ChildProcess }> {
    const started = await startProcess(command ?? [ECHO_APP, '--name', name], URL_LINE);
    this.#track(started.child);
    return { url: started.value, child: started.child };
  }

  /** Starts a raw TCP app that greets with its name, then echoes; resolves with its port. */
  async tcpApp(name: string): Promise<{ port: number; child: ChildProcess }> {
    const started = await startProcess([TCP_ECHO_APP, '--name', name], /listening on tcp:\/\/127\.0\.0\.1:(\d+)/);
    this.#track(started.child);
    return { port: Number(started.value), child: started.child };
  }

  /** Starts an agent; `port` restarts one where an agent was before (0: a free port). `stderr`: its log so far (`env` may raise DETOUR_LOG_LEVEL). */
  async agent(service: string, appUrl: string, extraArgs: string[] = [], port = 0, env: NodeJS.ProcessEnv = {}): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
    const started = await startProcess(
      [DETOUR_BIN, 'agent', '--service', service, '--listen', String(port), '--app', appUrl, '--manager', this.managerUrl, '--token-file', this.tokenFile, ...extraArgs],
      URL_LINE,
      env,
    );
    this.#track(started.child);
    return { url: started.value, child: started.child, stderr: started.stderr };
  }

  /** An app plus `replicas` agents in front of it. */
  async service(name: string, replicas = 1): Promise<{ appUrl: string; agentUrls: string[]; agents: ChildProcess[] }> {
    const app = await this.app(name);
    const agents = await Promise.all(Array.from({ length: replicas }, () => this.agent(name, app.url)));
    return { appUrl: app.url, agentUrls: agents.map((a) => a.url), agents: agents.map((a) => a.child) };
  }

  /** A developer: a daemon home, a local app (the echo app, or `node ...localApp`), and `detour connect` already done. */
  async developer(name: string, localApp?: string[]): Promise<Developer> {
    const home = join(this.dir, `home-${name}`);
    this.#homes.push(home);
    const env = { DETOUR_HOME: home, DETOUR_LOG_LEVEL: process.env.E2E_DAEMON_LOG_LEVEL ?? 'info' };
    const local = await this.app(`${name}-laptop`, localApp);
    const cli = (args: string[]) => runCli(args, env);
    const connected = await cli(['connect', '--manager', this.managerUrl, '--token-file', this.tokenFile, '--name', name]);
    if (connected.code !== 0) throw new Error(`connect failed: ${connected.stderr}`);
    const developer: Developer = {
      name,
      env,
      home,
      localUrl: local.url,
      localPort: Number(new URL(local.url).port),
      cli,
      intercept: async (service, args = []) => {
        const result = await cli(['intercept', service, '--port', new URL(local.url).port, '--output', 'json', ...args]);
        if (result.code !== 0) throw new Error(`intercept failed (${result.code}): ${result.stderr}`);
        return JSON.parse(result.stdout) as { id: string; name: string; header: string | null };
      },
      interceptHeader: async (service, args = []) => {
        const { header } = await developer.intercept(service, args);
        if (header === null) throw new Error(`intercept ${service} ${args.join(' ')} matches no exact header`);
        const at = header.indexOf('=');
        return [header.slice(0, at), header.slice(at + 1)];
      },
      daemonPid: async () => {
        const status = await cli(['status', '--output', 'json']);
        return (JSON.parse(status.stdout) as { daemon: { pid: number } }).daemon.pid;
      },
    };
    return developer;
  }

  async close(): Promise<void> {
    for (const home of this.#homes) {
      await runCli(['quit'], { DETOUR_HOME: home }, 10_000).catch(() => undefined);
    }
    await Promise.all([...this.#children].map((child) => stopProcess(child)));
    await rm(this.dir, { recursive: true, force: true });
  }

  #track(child: ChildProcess): void {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
  }
}

/** Which app answered a request through an agent (the echo apps name themselves in their JSON answer). */
export async function answeredBy(url: string, headers: Record<string, string> = {}): Promise<string | undefined> {
  const r = await request(url, { headers });
  return ((await r.body.json()) as { app?: string }).app;
}
