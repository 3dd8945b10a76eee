import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'undici';
import type { Intercept, ServiceInfo } from '@detour/protocol';
import { DETOUR_BIN, ECHO_APP, TCP_ECHO_APP, runCli, startProcess, stopProcess } from './processes.js';
import type { CliResult } from './processes.js';

const URL_LINE = /listening on (https?:\/\/\S+)/;
/** A signed routing value, `name.<expiry s>.<keyId>.<22-character MAC>` (--signed-keys): never in detour's logs. */
const SIGNED_VALUE = /\.\d{10}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])/;

/** An identity a test's auth file holds (issue 13); its token goes to `<dir>/token-<name>`. */
export interface TestIdentity {
  name: string;
  role: 'admin' | 'developer' | 'agent';
  policy?: { services?: string[]; global?: boolean; maxIntercepts?: number; headers?: string[] };
}

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
  /** Everything each process wrote to stderr, in full: the leak check greps it (issue 13). */
  readonly #stderrs: { what: string; text: string }[] = [];
  /** With identities: the auth file; `tokenFile` is then the first agent identity's token. */
  readonly authFile: string | undefined;
  readonly auditFile: string | undefined;

  readonly #managerEnv: NodeJS.ProcessEnv;
  readonly #readerTokenFile: string;

  /** The CA file agents and daemons verify an https:// manager with (`--manager-ca`), if any. */
  readonly managerCa: string | undefined;
  readonly #dispatcher: Agent | undefined;

  private constructor(dir: string, managerArgs: string[], identities: readonly TestIdentity[] | undefined, managerEnv: NodeJS.ProcessEnv, managerCa: string | undefined) {
    this.dir = dir;
    this.#managerEnv = managerEnv;
    const agent = identities?.find((identity) => identity.role === 'agent');
    this.tokenFile = join(dir, agent === undefined ? 'token' : `token-${agent.name}`);
    // Agents may only serve: the harness reads the manager's lists as an admin, else a developer.
    const reader = identities?.find((identity) => identity.role === 'admin') ?? identities?.find((identity) => identity.role === 'developer');
    this.#readerTokenFile = reader === undefined ? this.tokenFile : join(dir, `token-${reader.name}`);
    this.authFile = identities === undefined ? undefined : join(dir, 'auth.yaml');
    this.auditFile = identities === undefined ? undefined : join(dir, 'audit.log');
    this.#managerArgs = managerArgs;
    this.managerCa = managerCa;
    this.#dispatcher = managerCa === undefined ? undefined : new Agent({ connect: { ca: readFileSync(managerCa) } });
  }

  /**
   * `identities`: the manager runs with `--auth-file` holding them (and `--audit-file`),
   * each with a fresh token in {@link tokenFileOf}; agents use the first `agent`
   * identity's, developers their own. Without: single-token mode.
   * `managerCa`: with `--tls-cert` in managerArgs, the CA every agent and developer is given as `--manager-ca`.
   */
  static async create(options: { managerArgs?: string[]; identities?: readonly TestIdentity[]; managerEnv?: NodeJS.ProcessEnv; managerCa?: string; dir?: string } = {}): Promise<Environment> {
    const env = new Environment(options.dir ?? (await mkdtemp(join(tmpdir(), 'detour-e2e-'))), options.managerArgs ?? [], options.identities, options.managerEnv ?? {}, options.managerCa);
    if (options.identities !== undefined) await env.#writeAuthFile(options.identities);
    await env.startManager();
    return env;
  }

  /** Where an identity's token is. */
  tokenFileOf(name: string): string {
    return join(this.dir, `token-${name}`);
  }

  /** Starts (or restarts, on the same port) the manager. */
  async startManager(): Promise<void> {
    const port = this.managerUrl === '' ? '0' : new URL(this.managerUrl).port;
    const auth = this.authFile === undefined ? ['--token-file', this.tokenFile] : ['--auth-file', this.authFile, '--audit-file', this.auditFile!];
    const started = await startProcess([DETOUR_BIN, 'manager', '--port', port, ...auth, ...this.#managerArgs], URL_LINE, this.#managerEnv);
    this.#track(started.child, 'manager');
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
    const token = (await readFile(this.#readerTokenFile, 'utf8')).trim();
    const r = await request(`${this.managerUrl}/v1/services`, { headers: { authorization: `Bearer ${token}` }, ...(this.#dispatcher === undefined ? {} : { dispatcher: this.#dispatcher }) });
    const { services } = (await r.body.json()) as { services: ServiceInfo[] };
    return services.find((s) => s.name === service)?.intercepts ?? [];
  }

  /** Starts an app process (the echo app, or `node ...command` when given); resolves with its URL. */
  async app(name: string, command?: string[]): Promise<{ url: string; child: ChildProcess }> {
    const started = await startProcess(command ?? [ECHO_APP, '--name', name], URL_LINE);
    this.#track(started.child, `app ${name}`);
    return { url: started.value, child: started.child };
  }

  /** Starts a raw TCP app that greets with its name, then echoes; resolves with its port. */
  async tcpApp(name: string): Promise<{ port: number; child: ChildProcess }> {
    const started = await startProcess([TCP_ECHO_APP, '--name', name], /listening on tcp:\/\/127\.0\.0\.1:(\d+)/);
    this.#track(started.child, `tcp app ${name}`);
    return { port: Number(started.value), child: started.child };
  }

  /** Starts an agent; `port` restarts one where an agent was before (0: a free port). `stderr`: its log so far (`env` may raise DETOUR_LOG_LEVEL). */
  async agent(service: string, appUrl: string, extraArgs: string[] = [], port = 0, env: NodeJS.ProcessEnv = {}): Promise<{ url: string; child: ChildProcess; stderr: () => string }> {
    const started = await startProcess(
      [DETOUR_BIN, 'agent', '--service', service, '--listen', String(port), '--app', appUrl, '--manager', this.managerUrl, '--token-file', this.tokenFile, ...this.caArgs(), ...extraArgs],
      URL_LINE,
      env,
    );
    this.#track(started.child, `agent ${service}`);
    return { url: started.value, child: started.child, stderr: started.stderr };
  }

  /** An app plus `replicas` agents in front of it. */
  async service(name: string, replicas = 1): Promise<{ appUrl: string; agentUrls: string[]; agents: ChildProcess[] }> {
    const app = await this.app(name);
    const agents = await Promise.all(Array.from({ length: replicas }, () => this.agent(name, app.url)));
    return { appUrl: app.url, agentUrls: agents.map((a) => a.url), agents: agents.map((a) => a.child) };
  }

  /** A developer: a daemon home, a local app (the echo app, or `node ...localApp`), and `detour connect` already done. */
  async developer(name: string, localApp?: string[], tokenFile: string = this.authFile === undefined ? this.tokenFile : this.tokenFileOf(name)): Promise<Developer> {
    const home = join(this.dir, `home-${name}`);
    this.#homes.push(home);
    const env = { DETOUR_HOME: home, DETOUR_LOG_LEVEL: process.env.E2E_DAEMON_LOG_LEVEL ?? 'info' };
    const local = await this.app(`${name}-laptop`, localApp);
    const cli = (args: string[]) => runCli(args, env);
    const connected = await cli(['connect', '--manager', this.managerUrl, '--token-file', tokenFile, '--name', name, ...this.caArgs()]);
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

  /** `--manager-ca FILE` when the environment has one. */
  /**
   * How a client of this manager trusts it: `--manager-ca` for an https:// manager; `--insecure` for a
   * cleartext one off loopback, which in these tests is only the link of a network namespace the test
   * made itself (the fault suite's network cut), so nothing else can read the token on it.
   */
  caArgs(): string[] {
    if (this.managerCa !== undefined) return ['--manager-ca', this.managerCa];
    const host = new URL(this.managerUrl).hostname;
    return host === 'localhost' || host.startsWith('127.') || host === '[::1]' ? [] : ['--insecure'];
  }

  /**
   * Every log the environment's processes wrote so far: each process's stderr
   * (the manager's and agents' JSON logs, apps' output), each daemon home's
   * daemon.log, and the audit file. For the check that no secret is in any.
   */
  async logs(): Promise<{ what: string; text: string }[]> {
    const daemonLogs = await Promise.all(
      this.#homes.map(async (home) => ({ what: `daemon log ${home}`, text: await readFile(join(home, 'daemon.log'), 'utf8').catch(() => '') })),
    );
    const files = await readdir(this.dir);
    const extra = this.auditFile === undefined || !files.includes('audit.log') ? [] : [{ what: 'audit file', text: await readFile(this.auditFile, 'utf8') }];
    return [...this.#stderrs.map((entry) => ({ ...entry })), ...daemonLogs, ...extra];
  }

  /**
   * Stops everything, then checks that no token of this environment appears in any
   * log its processes wrote (issue 13: tokens never reach logs, audit lines or
   * errors), nor any signed routing value's MAC in detour's own logs (apps are sent
   * signed values on purpose), so every end-to-end test is also that check.
   */
  async close(): Promise<void> {
    for (const home of this.#homes) {
      await runCli(['quit'], { DETOUR_HOME: home }, 10_000).catch(() => undefined);
    }
    await Promise.all([...this.#children].map((child) => stopProcess(child)));
    await this.#dispatcher?.close();
    try {
      const tokens = await this.#tokens();
      for (const log of await this.logs()) {
        const leaked = tokens.find((token) => log.text.includes(token));
        if (leaked !== undefined) throw new Error(`a token of this environment appears in the ${log.what}`);
        if (!/^(tcp )?app /.test(log.what) && SIGNED_VALUE.test(log.text)) throw new Error(`a signed routing value (with its MAC) appears in the ${log.what}`);
      }
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Every token the environment handed out: the shared one, or each identity's (`token-*` files). */
  async #tokens(): Promise<string[]> {
    const names = (await readdir(this.dir)).filter((name) => name === 'token' || name.startsWith('token-'));
    const tokens = await Promise.all(names.map(async (name) => (await readFile(join(this.dir, name), 'utf8')).trim()));
    return tokens.filter((token) => token.length >= 16);
  }

  async #writeAuthFile(identities: readonly TestIdentity[]): Promise<void> {
    const entries = await Promise.all(
      identities.map(async (identity) => {
        const token = `dtr_${randomBytes(32).toString('base64url')}`;
        await writeFile(this.tokenFileOf(identity.name), `${token}\n`, { mode: 0o600 });
        return { name: identity.name, role: identity.role, tokenSha256: createHash('sha256').update(token).digest('hex'), ...(identity.policy === undefined ? {} : { policy: identity.policy }) };
      }),
    );
    // JSON is YAML: the manager reads either.
    await writeFile(this.authFile!, `${JSON.stringify({ identities: entries }, null, 2)}\n`, { mode: 0o600 });
  }

  #track(child: ChildProcess, what: string): void {
    const log = { what, text: '' };
    this.#stderrs.push(log);
    child.stderr?.on('data', (chunk: Buffer | string) => (log.text += chunk.toString()));
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
  }
}

/** Which app answered a request through an agent (the echo apps name themselves in their JSON answer). */
export async function answeredBy(url: string, headers: Record<string, string> = {}): Promise<string | undefined> {
  const r = await request(url, { headers });
  return ((await r.body.json()) as { app?: string }).app;
}

/** Which app answered a visit to a preview URL, sent to the gateway on 127.0.0.1 with the Host a browser would send. */
export function answeredViaPreview(previewUrl: string, path = '/anything'): Promise<string> {
  const preview = new URL(previewUrl);
  return new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: Number(preview.port), path, headers: { host: preview.host } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve((JSON.parse(text) as { app: string }).app));
    }).on('error', reject);
  });
}
