import { DetourError, readOrCreateTokenFile } from '@detour/core';
import type { Logger } from '@detour/core';
import type { ServiceLookup } from '@detour/kube';
import { startManager } from '@detour/manager';
import type { ManagerOptions } from '@detour/manager';
import type { Io } from '../io.js';
import { printLine } from '../io.js';

export interface ManagerCommandOptions {
  host: string;
  port: number;
  tokenFile: string;
  leaseMs: number;
  global: boolean;
  webhookPort?: number;
  webhookCert?: string;
  webhookKey?: string;
  agentImage?: string;
  agentManagerUrl?: string;
  agentTokenSecret: string;
  metricsPort?: number;
  metricsHost?: string;
}

/**
 * Until the manager has its Kubernetes API client, the injector cannot see the
 * namespace's Services: every review fails open (the pod is admitted unchanged,
 * with a warning) and says why. The Kubernetes side replaces this with a lookup
 * backed by its list+watch of Services.
 */
const NO_SERVICE_LOOKUP: ServiceLookup = {
  servicesIn: () => Promise.reject(new DetourError('DETOUR_ERR_WEBHOOK_NO_SERVICES', 'the manager has no Kubernetes API client to list Services with')),
};

function webhookOptions(options: ManagerCommandOptions, logger: Logger, version: string): ManagerOptions['webhook'] {
  const { webhookPort, webhookCert, webhookKey, agentImage, agentManagerUrl } = options;
  if (webhookPort === undefined) {
    if ([webhookCert, webhookKey, agentImage, agentManagerUrl].some((v) => v !== undefined)) {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-cert, --webhook-key, --agent-image and --agent-manager-url configure the injector: give --webhook-port too');
    }
    return undefined;
  }
  if (webhookCert === undefined || webhookKey === undefined || agentImage === undefined || agentManagerUrl === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--webhook-port needs --webhook-cert, --webhook-key, --agent-image and --agent-manager-url');
  }
  return {
    host: options.host,
    port: webhookPort,
    certFile: webhookCert,
    keyFile: webhookKey,
    admission: {
      services: NO_SERVICE_LOOKUP,
      options: { agentImage, managerUrl: agentManagerUrl, tokenSecret: { name: options.agentTokenSecret, key: 'token' }, version },
      logger,
    },
  };
}

export async function managerCommand(options: ManagerCommandOptions, io: Io, logger: Logger, version: string, signal: AbortSignal): Promise<number> {
  if (options.metricsHost !== undefined && options.metricsPort === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--metrics-host needs --metrics-port: without a port no token-less metrics listener runs (/metrics on the main port needs the token)');
  }
  const webhook = webhookOptions(options, logger, version);
  const { token, created } = await readOrCreateTokenFile(options.tokenFile);
  if (created) printLine(io, `wrote a new token to ${options.tokenFile}`);
  const manager = await startManager({
    host: options.host,
    port: options.port,
    token,
    leaseMs: options.leaseMs,
    globalAllowed: options.global,
    logger,
    version,
    processMetrics: true,
    ...(webhook === undefined ? {} : { webhook }),
    ...(options.metricsPort === undefined ? {} : { metricsPort: options.metricsPort, metricsHost: options.metricsHost }),
  });
  printLine(io, `manager listening on ${manager.url}`);
  if (manager.webhookUrl !== undefined) printLine(io, `agent injector listening on ${manager.webhookUrl}`);
  const metrics = manager.metricsAddress;
  if (metrics !== undefined) printLine(io, `manager metrics on http://${metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host}:${metrics.port}/metrics`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await manager.close();
  return 0;
}
