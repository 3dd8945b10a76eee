import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { Environment } from '../support/environment.js';
import { ECHO_APP, eventually, runCli, startProcess, stopProcess } from '../support/processes.js';
import type { Launcher } from '../support/processes.js';
import { Load, report } from './support.js';

const run = promisify(execFile);
const URL_LINE = /listening on (https?:\/\/\S+)/;

/**
 * A "laptop" in a network namespace of the test's own, joined to the host by a
 * veth pair with addresses the test picks: the only addresses the case touches
 * besides loopback. Taking the host end down cuts the laptop off, as Wi-Fi does.
 */
class Laptop {
  readonly ns: string;
  readonly hostIf: string;
  readonly hostIp: string;
  readonly laptopIp: string;

  constructor() {
    const id = process.pid % 10_000;
    const octet = (process.pid % 250) + 1;
    this.ns = `detour-fault-${id}`;
    this.hostIf = `dtf${id}h`;
    this.hostIp = `10.213.${octet}.1`;
    this.laptopIp = `10.213.${octet}.2`;
  }

  get launcher(): Launcher {
    return ['ip', 'netns', 'exec', this.ns, process.execPath];
  }

  async create(): Promise<void> {
    const laptopIf = `dtf${process.pid % 10_000}n`;
    await run('ip', ['netns', 'add', this.ns]);
    const steps = [
      ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', laptopIf],
      ['link', 'set', laptopIf, 'netns', this.ns],
      ['addr', 'add', `${this.hostIp}/30`, 'dev', this.hostIf],
      ['link', 'set', this.hostIf, 'up'],
      ['-n', this.ns, 'addr', 'add', `${this.laptopIp}/30`, 'dev', laptopIf],
      ['-n', this.ns, 'link', 'set', laptopIf, 'up'],
      ['-n', this.ns, 'link', 'set', 'lo', 'up'],
    ];
    for (const step of steps) await run('ip', step);
  }

  link(state: 'up' | 'down'): Promise<unknown> {
    return run('ip', ['link', 'set', this.hostIf, state]);
  }

  /** Removing the namespace removes its end of the pair, and with it the host end. */
  async destroy(): Promise<void> {
    await run('ip', ['netns', 'del', this.ns]).catch(() => undefined);
    await run('ip', ['link', 'del', this.hostIf]).catch(() => undefined);
  }
}

async function canCreateNamespaces(): Promise<string | undefined> {
  const probe = `detour-probe-${process.pid}`;
  try {
    await run('ip', ['netns', 'add', probe]);
    await run('ip', ['netns', 'del', probe]);
    return undefined;
  } catch (err) {
    return `network namespaces cannot be created here (${(err as Error).message.split('\n')[0]}); run as root with iproute2 installed`;
  }
}

async function appOf(url: string, headers: Record<string, string>): Promise<string | undefined> {
  const response = await request(`${url}/anything`, { headers, headersTimeout: 5_000, bodyTimeout: 5_000 });
  return ((await response.body.json()) as { app?: string }).app;
}

// Issue 14 (Telepresence #3861, #3926: intercepts lost after sleep): a laptop
// loses its network for 5 s and gets it back.
test('fault: the laptop network is cut for 5 s, then comes back', { timeout: 180_000 }, async (t) => {
  const cannot = await canCreateNamespaces();
  if (cannot !== undefined) return void t.skip(cannot);
  const laptop = new Laptop();
  await laptop.create();
  t.after(() => laptop.destroy());
  // The manager listens on the host end of the pair, so the namespaced daemon can reach it.
  const env = await Environment.create({ managerArgs: ['--host', laptop.hostIp] });
  t.after(() => env.close());
  const api = await env.service('api');
  const agentUrl = api.agentUrls[0]!;
  const bob = await env.developer('bob');
  const bobHeader = await bob.interceptHeader('api');

  // Alice's daemon and laptop app both live in the namespace.
  const home = join(env.dir, 'home-alice');
  const aliceEnv = { DETOUR_HOME: home };
  const local = await startProcess([ECHO_APP, '--name', 'alice-laptop'], URL_LINE, {}, 20_000, laptop.launcher);
  t.after(() => stopProcess(local.child));
  const cli = (args: string[]) => runCli(args, aliceEnv, 30_000, laptop.launcher);
  t.after(() => cli(['quit']));
  const connected = await cli(['connect', '--manager', env.managerUrl, '--token-file', env.tokenFile, '--name', 'alice', ...env.caArgs()]);
  assert.equal(connected.code, 0, connected.stderr);
  const intercepted = await cli(['intercept', 'api', '--port', new URL(local.value).port, '--output', 'json']);
  assert.equal(intercepted.code, 0, intercepted.stderr);
  const header = (JSON.parse(intercepted.stdout) as { header: string }).header;
  const alice = { [header.slice(0, header.indexOf('='))]: header.slice(header.indexOf('=') + 1) };
  assert.equal(await appOf(agentUrl, alice), 'alice-laptop');

  const bobLoad = new Load(t, agentUrl, { connections: 4, headers: { [bobHeader[0]]: bobHeader[1] }, expectApp: 'bob-laptop', maxDurationMs: 120_000 });
  const unmatched = new Load(t, agentUrl, { connections: 4, expectApp: 'api', maxDurationMs: 120_000 });

  await laptop.link('down');
  const cutAt = Date.now();
  // `fallback`: alice's requests go to the app while she is unreachable.
  const policyAfterMs = await eventually('alice\'s requests fall back to the app', async () => ((await appOf(agentUrl, alice)) === 'api' ? Date.now() - cutAt : undefined), 10_000);
  const downForMs = 5_000 - (Date.now() - cutAt);
  if (downForMs > 0) await new Promise((resolve) => setTimeout(resolve, downForMs));
  await laptop.link('up');
  const upAt = Date.now();
  const backAfterMs = await eventually('alice\'s intercept routes to her laptop again', async () => ((await appOf(agentUrl, alice)) === 'alice-laptop' ? Date.now() - upAt : undefined), 60_000, 100);

  const status = JSON.parse((await cli(['status', '--output', 'json'])).stdout) as { connection: { state: string }; intercepts: Array<{ intercept?: { online: boolean } }> };
  const [bobSummary, unmatchedSummary] = await Promise.all([bobLoad.stop(), unmatched.stop()]);
  report(t, {
    policy_applied_after_ms: policyAfterMs,
    link_down_ms: upAt - cutAt,
    intercept_back_after_link_up_ms: backAfterMs,
    other_developer_requests: bobSummary.requests,
    other_developer_failed: bobSummary.failed,
    other_developer_misrouted: bobSummary.misrouted,
    unmatched_requests: unmatchedSummary.requests,
    unmatched_failed: unmatchedSummary.failed,
  });
  assert.ok(policyAfterMs <= 2_000, `the disconnect policy applied ${policyAfterMs} ms after the cut`);
  assert.equal(status.connection.state, 'ready');
  assert.deepEqual(status.intercepts.map((i) => i.intercept?.online), [true]);
  assert.deepEqual({ failed: bobSummary.failed, misrouted: bobSummary.misrouted }, { failed: 0, misrouted: 0 }, bobSummary.samples.join('; '));
  assert.deepEqual({ failed: unmatchedSummary.failed, misrouted: unmatchedSummary.misrouted }, { failed: 0, misrouted: 0 }, unmatchedSummary.samples.join('; '));
});
