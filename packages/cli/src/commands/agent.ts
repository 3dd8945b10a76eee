import { DetourError, readTokenFile } from '@detour/core';
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
    ...(options.maxHeaderBytes === undefined ? {} : { maxHeaderBytes: options.maxHeaderBytes }),
    ...(options.headerTimeoutMs === undefined ? {} : { headerTimeoutMs: options.headerTimeoutMs }),
    ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort, metricsHost: options.metricsHost }),
  });
  const scheme = tlsCert === undefined ? 'http' : 'https';
  printLine(io, `agent ${options.service} listening on ${scheme}://${hostPort(agent.address)}`);
  if (agent.metricsAddress !== undefined) printLine(io, `agent ${options.service} metrics on http://${hostPort(agent.metricsAddress)}/metrics`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await agent.close();
  return 0;
}

function hostPort(address: { host: string; port: number }): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
