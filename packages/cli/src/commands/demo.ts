import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { request } from 'undici';
import { DEFAULT_HEADER_NAME } from '@detour/protocol';
import { ProcessGroup, runToCompletion } from '../demo/process-group.js';
import type { Io } from '../io.js';
import { printError, printLine } from '../io.js';

const SAMPLE_SERVICE = fileURLToPath(new URL('../../../../../demo/sample-service.mjs', import.meta.url));
/** The sample services carry the header with @detour/propagation, loaded as users load it (`--import`). */
const PROPAGATION_PRELOAD = pathToFileURL(createRequire(import.meta.url).resolve('@detour/propagation/register.mjs')).href;
const URL_LINE = /listening on (http:\/\/\S+)/;

interface ChainLink {
  service: string;
  flavor: string;
  headerArrived: boolean;
}

async function chainOf(url: string, headers: Record<string, string>): Promise<ChainLink[]> {
  const response = await request(url, { headers });
  return ((await response.body.json()) as { chain: ChainLink[] }).chain;
}

const describeChain = (chain: ChainLink[]) => chain.map((link) => `${link.service} (${link.flavor})`).join(' → ');
const describeArrival = (chain: ChainLink[]) => chain.map((link) => `${link.service} ${link.headerArrived ? '✔' : '✘'}`).join(' → ');

/**
 * `npm start`: a whole environment on 127.0.0.1 — manager, web → api → quote
 * each behind an agent, and a "laptop" api that intercepts only requests with
 * this developer's header. Stays up until Ctrl-C, then stops all it started.
 */
export async function demoCommand(io: Io, binPath: string, signal: AbortSignal): Promise<number> {
  const work = await mkdtemp(join(tmpdir(), 'detour-demo-'));
  const tokenFile = join(work, 'token');
  const env = { ...io.env, DETOUR_HOME: join(work, 'home'), DETOUR_LOG_LEVEL: io.env.DETOUR_LOG_LEVEL ?? 'warn' };
  const group = new ProcessGroup();
  const node = process.execPath;
  const step = (text: string) => printError(io, `… ${text}`);
  try {
    step('starting the manager');
    const managerUrl = await group.start('manager', node, [binPath, 'manager', '--port', '0', '--token-file', tokenFile, '--preview-listen', '0'], URL_LINE, env);

    const agentFor = async (service: string, appUrl: string) =>
      group.start(`agent ${service}`, node, [binPath, 'agent', '--service', service, '--listen', '0', '--app', appUrl, '--manager', managerUrl, '--token-file', tokenFile], URL_LINE, env);
    const app = (name: string, flavor: string, next?: string) =>
      group.start(`${name} (${flavor})`, node, ['--import', PROPAGATION_PRELOAD, SAMPLE_SERVICE, '--name', name, '--flavor', flavor, ...(next === undefined ? [] : ['--next', next])], URL_LINE, env);

    step('starting quote, api and web, each behind an agent');
    const quoteAgent = await agentFor('quote', await app('quote', 'cluster'));
    const apiAgent = await agentFor('api', await app('api', 'cluster', quoteAgent));
    const webAgent = await agentFor('web', await app('web', 'cluster', apiAgent));

    step('starting your laptop version of api');
    const laptopApi = await app('api', 'laptop', quoteAgent);
    const laptopPort = new URL(laptopApi).port;

    step('connecting (detour connect) and intercepting api (detour intercept api --http-header auto)');
    await runToCompletion(node, [binPath, 'connect', '--manager', managerUrl, '--token-file', tokenFile, '--name', 'demo'], env);
    const intercepted = JSON.parse(await runToCompletion(node, [binPath, 'intercept', 'api', '--port', laptopPort, '--http-header', 'auto', '--output', 'json'], env)) as { header: string };
    const [headerName, headerValue] = intercepted.header.split('=') as [string, string];

    // The way in for a browser: web, with the header added by the preview gateway (issue 12).
    const preview = JSON.parse(await runToCompletion(node, [binPath, 'preview', 'create', 'api', '--entry', 'web', '--output', 'json'], env)) as { url: string };

    printLine(io);
    const mine = await chainOf(webAgent, { [headerName]: headerValue });
    const trace = (await runToCompletion(node, [binPath, 'trace', 'web'], env)).split('\n')[0];
    step('starting the dashboard (detour dashboard)');
    const dashboard = JSON.parse(await runToCompletion(node, [binPath, 'dashboard', '--no-open', '--output', 'json'], env)) as { url: string };
    printLine(io, 'detour demo is running. Everyone shares web → api → quote; you intercepted api, in the middle.');
    printLine(io);
    printLine(io, `  without the header:  ${describeChain(await chainOf(webAgent, {}))}`);
    printLine(io, `  with ${headerName}: ${headerValue}:`);
    printLine(io, `                       ${describeChain(mine)}`);
    printLine(io, `  header arrived at:   ${describeArrival(mine)}`);
    printLine(io, '                       (no service forwards it by hand: @detour/propagation carries it, also out of your laptop api)');
    printLine(io, `  detour trace web:    ${trace}`);
    printLine(io, `  preview URL:         ${preview.url}`);
    printLine(io, '                       (open it in a browser: web → api (laptop) → quote, no header needed)');
    printLine(io);
    printLine(io, `  dashboard:           ${dashboard.url}`);
    printLine(io, '                       (open it, then send yourself a request below: it appears in the inspector, replay it from there)');
    printLine(io);
    printLine(io, 'Try it yourself:');
    printLine(io, `  curl -s ${webAgent}/                                  # everyone else's view`);
    printLine(io, `  curl -s -H '${DEFAULT_HEADER_NAME}: ${headerValue}' ${webAgent}/   # your view`);
    printLine(io, `  DETOUR_HOME=${env.DETOUR_HOME} ${binPath} status`);
    printLine(io, `  DETOUR_HOME=${env.DETOUR_HOME} ${binPath} list`);
    printLine(io, `  DETOUR_HOME=${env.DETOUR_HOME} ${binPath} trace web             # which services pass the header on`);
    printLine(io);
    printLine(io, 'Press Ctrl-C to stop everything.');
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    return 0;
  } finally {
    printError(io, '… stopping');
    await runToCompletion(node, [binPath, 'quit'], env).catch(() => undefined);
    await group.stopAll();
    await rm(work, { recursive: true, force: true });
    printError(io, 'demo stopped; nothing left running');
  }
}
