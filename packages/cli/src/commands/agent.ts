import { readFile } from 'node:fs/promises';
import { DetourError, parseDotenv, readTokenFile } from '@detour/core';
import type { EnvVariable } from '@detour/core';
import { startAgent } from '@detour/agent';
import type { AgentProtocol } from '@detour/protocol';
import type { Io } from '../io.js';
import { printLine } from '../io.js';
import { managerFromFlags, readPemFlag } from '../manager-flags.js';
import type { ManagerFlags } from '../manager-flags.js';
import type { ServerLogging } from '../server-logging.js';

export interface AgentCommandOptions extends ManagerFlags {
  service: string;
  listen: number;
  host: string;
  app: string;
  tokenFile: string;
  maxHeaderBytes?: number;
  headerTimeoutMs?: number;
  protocol: AgentProtocol;
  tlsCert?: string;
  tlsKey?: string;
  appCa?: string;
  metricsPort?: number;
  metricsHost?: string;
  /** The app's .env file, published to the manager (plain-process mode). */
  envFile?: string;
}

export async function agentCommand(options: AgentCommandOptions, io: Io, { logger, ring }: ServerLogging, signal: AbortSignal): Promise<number> {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--tls-cert and --tls-key go together: give both (the service certificate and its key) or neither');
  }
  if (options.tlsCert !== undefined && options.protocol === 'tcp') {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--tls-cert needs an HTTP port (--protocol http1, h2c or auto), not --protocol tcp');
  }
  if (options.appCa !== undefined && !options.app.startsWith('https://')) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `--app-ca verifies an https:// app, but --app is ${JSON.stringify(options.app)}`);
  }
  if (options.metricsHost !== undefined && options.metricsPort === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--metrics-host needs --metrics-port: without a port no metrics listener runs');
  }
  // Validated (and the --insecure warning printed) before anything starts; startAgent checks the same through the same function.
  const { endpoint, pem } = await managerFromFlags(options, io);
  const token = await readTokenFile(options.tokenFile);
  const [tlsCert, tlsKey, appCa] = await Promise.all([readPemFlag('--tls-cert', options.tlsCert), readPemFlag('--tls-key', options.tlsKey), readPemFlag('--app-ca', options.appCa)]);
  const environment = options.envFile === undefined ? undefined : await readEnvFile(options.envFile);
  const agent = await startAgent({
    service: options.service,
    listenHost: options.host,
    listenPort: options.listen,
    appUrl: options.app,
    managerUrl: endpoint.origin,
    managerCa: pem.ca,
    clientCert: pem.cert,
    clientKey: pem.key,
    insecure: options.insecure === true,
    token,
    logger,
    logRing: ring,
    protocol: options.protocol,
    tlsCert,
    tlsKey,
    appCa,
    ...(environment === undefined ? {} : { environment }),
    ...(options.maxHeaderBytes === undefined ? {} : { maxHeaderBytes: options.maxHeaderBytes }),
    ...(options.headerTimeoutMs === undefined ? {} : { headerTimeoutMs: options.headerTimeoutMs }),
    ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort, metricsHost: options.metricsHost }),
  });
  const scheme = tlsCert === undefined ? 'http' : 'https';
  printLine(io, `agent ${options.service} listening on ${scheme}://${hostPort(agent.address)}`);
  if (agent.metricsAddress !== undefined) printLine(io, `agent ${options.service} metrics on http://${hostPort(agent.metricsAddress)}/metrics`);
  // SIGHUP re-reads --env-file (nginx's convention for "reload"); a bad file keeps what was published.
  const reload = () => {
    if (options.envFile === undefined) return;
    void readEnvFile(options.envFile)
      .then((variables) => agent.publishEnvironment(variables).then(() => logger.info({ variables: variables.length }, '--env-file re-read on SIGHUP')))
      .catch((err: unknown) => logger.warn({ code: (err as { code?: string }).code }, `--env-file not re-read, the last one stays published: ${(err as Error).message}`));
  };
  if (options.envFile !== undefined) process.on('SIGHUP', reload);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  process.off('SIGHUP', reload);
  await agent.close();
  return 0;
}

function hostPort(address: { host: string; port: number }): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** Reads `--env-file` once, at start: every problem of the file in one line, and never a value (they are secrets). */
async function readEnvFile(file: string): Promise<EnvVariable[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `--env-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const { variables, problems } = parseDotenv(text);
  if (problems.length > 0) throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `--env-file ${file} is not a .env file: ${problems.join('; ')}`);
  return variables;
}

