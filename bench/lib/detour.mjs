import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { start, run, adopt, lastLines } from './procs.mjs';
import { request } from './http.mjs';

/**
 * Drives detour through its fixed CLI (manager, agent, connect, intercept,
 * leave, quit), exactly as a user would, plus the manager's HTTP API for the
 * hundreds of stand-in developers the scaling phase needs.
 */

export const CLI_PATH = fileURLToPath(new URL('../../packages/cli/bin/detour.js', import.meta.url));

/** The header value of the developer whose laptop the matched path reaches. */
export const DEV_HEADER_VALUE = 'bench-dev';
export const HEADER_NAME = 'x-telepresence-id';
/** A header value nobody intercepts: requests that carry the header but are routed to the app. */
export const UNINTERCEPTED_HEADER_VALUE = 'bench-nobody';

/** The stand-in developers must outlive the whole bench without heartbeats. */
const LEASE_MS = 6 * 3600_000;
const START_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 30_000;

/** Why detour cannot be benchmarked, or null when its CLI is there. */
export function detourUnavailable() {
  if (!existsSync(CLI_PATH)) return `${CLI_PATH} does not exist yet (packages/cli not built or not landed)`;
  return null;
}

function node(name, args, { nodeArgs = [], ...opts }) {
  return start(name, process.execPath, [...nodeArgs, CLI_PATH, ...args], opts);
}

function cli(args, { home, cpus, tasksetPath }) {
  return run(`detour ${args[0]}`, process.execPath, [CLI_PATH, ...args], {
    cpus,
    tasksetPath,
    env: { ...process.env, DETOUR_HOME: home },
    timeoutMs: CLI_TIMEOUT_MS,
  });
}

function mustSucceed(res, what) {
  if (res.code !== 0) throw new Error(`${what} exited ${res.code}: ${lastLines(res.output)}`);
  return res;
}

/** Starts a manager on a kernel-picked port; resolves { proc, url, token, tokenFile }. `args`: more manager flags; `name` tells two managers apart. */
export async function startManager({ workDir, cpus, tasksetPath, args = [], name = 'detour-manager' }) {
  const tokenFile = `${workDir}/${name}-token`;
  const token = randomBytes(24).toString('base64url');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  // --preview-url lets the bench create a preview for the detour-preview row; the gateway runs as its own process (startPreviewGateway).
  const proc = node(name, ['manager', '--host', '127.0.0.1', '--port', '0', '--token-file', tokenFile, '--lease-ms', String(LEASE_MS), '--preview-url', `http://${PREVIEW_DOMAIN}`, ...args], { cpus, tasksetPath });
  const [, url] = await proc.waitFor(/manager listening on (http:\/\/\S+)/, START_TIMEOUT_MS);
  return { proc, url, token, tokenFile };
}

export const PREVIEW_DOMAIN = 'preview.localhost';

/**
 * `detour gateway` in front of the agent, and a preview of the stack's intercept; resolves
 * { proc, url, host }: requests to `url` with `Host: host` take the preview's route. With
 * `profileDir`, the gateway writes a CPU profile there when it exits.
 */
export async function startPreviewGateway({ manager, daemon, interceptName, cpus, tasksetPath, profileDir }) {
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const proc = node('detour-gateway', ['gateway', '--host', '127.0.0.1', '--listen', '0', '--domain', PREVIEW_DOMAIN, '--manager', manager.url, '--token-file', manager.tokenFile], { cpus, tasksetPath, nodeArgs });
  const [, url] = await proc.waitFor(/preview gateway listening on (http:\/\/\S+)/, START_TIMEOUT_MS);
  const created = mustSucceed(await daemon.cli(['preview', 'create', interceptName, '--output', 'json']), 'detour preview create');
  const preview = JSON.parse(created.output.slice(created.output.indexOf('{')));
  return { proc, url, host: `${preview.id}.${PREVIEW_DOMAIN}` };
}

/**
 * Starts one agent for `service` in front of `appUrl`; resolves { proc, url, metricsUrl }. `nodeArgs` go to node
 * itself (e.g. --cpu-prof); `metrics` runs it with `--metrics-port 0`.
 */
export async function startAgent({ service, appUrl, manager, cpus, tasksetPath, nodeArgs, metrics = false }) {
  const args = ['agent', '--service', service, '--listen', '0', '--app', appUrl, '--manager', manager.url, '--token-file', manager.tokenFile];
  if (metrics) args.push('--metrics-port', '0');
  const proc = node(`detour-agent-${service}${metrics ? '-metrics' : ''}`, args, { cpus, tasksetPath, nodeArgs });
  const [, url] = await proc.waitFor(/agent \S+ listening on (http:\/\/\S+)/, START_TIMEOUT_MS);
  const metricsUrl = metrics ? (await proc.waitFor(/agent \S+ metrics on (http:\/\/\S+)/, START_TIMEOUT_MS))[1] : null;
  return { proc, url, metricsUrl };
}

/**
 * The daemon forks itself away from `detour connect`; it is found by the
 * DETOUR_HOME in its environment, so that the bench can read its memory and
 * end it even when `detour quit` fails.
 */
function findDaemonPid(home) {
  const needle = `DETOUR_HOME=${home}\0`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (`${readFileSync(`/proc/${entry}/environ`, 'utf8')}\0`.includes(needle)) return Number(entry);
    } catch { /* exited while we looked */ }
  }
  return null;
}

/** `detour connect` in a private DETOUR_HOME; resolves { home, pid, cli(args) }. */
export async function connectDaemon({ workDir, manager, name, cpus, tasksetPath }) {
  const home = `${workDir}/home-${name}`;
  await mkdir(home, { recursive: true });
  // The daemon inherits the CPU affinity of `connect`, so pinning connect pins the daemon.
  const opts = { home, cpus, tasksetPath };
  mustSucceed(await cli(['connect', '--manager', manager.url, '--token-file', manager.tokenFile, '--name', name], opts), 'detour connect');
  const pid = findDaemonPid(home);
  if (pid !== null) adopt(`detour-daemon-${name}`, pid);
  return {
    home,
    pid,
    cli: (args) => cli(args, opts),
    /** Creates a personal intercept; resolves { ms, intercept } where ms is the command's wall time. */
    async intercept(service, localPort, headerValue) {
      const res = mustSucceed(await cli(['intercept', service, '--port', String(localPort), '--http-header', `${HEADER_NAME}=${headerValue}`, '--output', 'json'], opts), `detour intercept ${service}`);
      const json = res.stdout.slice(res.stdout.indexOf('{'));
      return { ms: res.ms, intercept: JSON.parse(json) };
    },
    /** A `--mode wiretap` intercept on `service` for another developer's header value: it never matches the bench's traffic. */
    async wiretap(service, localPort, headerValue) {
      mustSucceed(await cli(['intercept', service, '--port', String(localPort), '--mode', 'wiretap', '--http-header', `${HEADER_NAME}=${headerValue}`, '--name', `${service}-wiretap`], opts), `detour intercept ${service} --mode wiretap`);
    },
    async leave(name) {
      mustSucceed(await cli(['leave', name], opts), `detour leave ${name}`);
    },
    async quit() {
      return cli(['quit'], opts);
    },
  };
}

/**
 * Manager API client for stand-in developers: one session and one personal
 * intercept each, as 1,000 real developers would have. Their tunnels are never
 * connected, which does not matter: the bench sends them no matched traffic.
 */
export function apiClient(manager) {
  const call = async (method, path, { key, body } = {}) => {
    const headers = { authorization: `Bearer ${manager.token}`, 'content-type': 'application/json' };
    if (key) headers['detour-session-key'] = key;
    const res = await request(new URL(path, manager.url), { method, headers, body: body && JSON.stringify(body), timeoutMs: CLI_TIMEOUT_MS });
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${res.body.slice(0, 300)}`);
    return res.body ? JSON.parse(res.body) : null;
  };
  return {
    /**
     * A session that intercepts nothing, and the header value it was given: with --signed-keys a valid
     * signed value, as other developers' propagated values reach a service they do not intercept.
     */
    async bystanderValue() {
      const name = 'bench-bystander';
      const { session } = await call('POST', '/v1/sessions', { body: { name, clientId: 'bench-client-bystander', headerValue: name } });
      return session.signedValue?.value ?? name;
    },
    /** Adds stand-in developer `i` with an intercept on `service`; resolves a remover. */
    async addDeveloper(service, i, localPort) {
      const name = `bench-${i}`;
      const { session, key } = await call('POST', '/v1/sessions', { body: { name, clientId: `bench-client-${i}`, headerValue: name } });
      const id = `bench-intercept-${i}`;
      await call('POST', '/v1/intercepts', {
        key,
        body: { id, name, service, headers: [{ name: HEADER_NAME, op: 'equals', value: name }], paths: [], global: false, onDisconnect: 'fallback', localPort },
      });
      return async () => {
        await call('DELETE', `/v1/sessions/${encodeURIComponent(session.id)}`, { key });
      };
    },
  };
}

/**
 * Manager, one agent for `service` in front of the app, and a connected
 * developer whose intercept routes DEV_HEADER_VALUE to the laptop. Server-side
 * processes are pinned to `cpus`. With `profileDir`, the agent writes a CPU
 * profile there when it exits.
 */
export async function startDetourStack({ workDir, service, upstream, cpus, tasksetPath, profileDir }) {
  const manager = await startManager({ workDir, cpus, tasksetPath });
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const agent = await startAgent({ service, appUrl: upstream.appUrl, manager, cpus, tasksetPath, nodeArgs });
  const daemon = await connectDaemon({ workDir, manager, name: DEV_HEADER_VALUE, cpus, tasksetPath });
  const { intercept } = await daemon.intercept(service, upstream.laptopPort, DEV_HEADER_VALUE);
  return { manager, agent, daemon, interceptName: intercept.name ?? service };
}
