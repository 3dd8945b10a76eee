import { readTokenFile } from '@detour/core';
import { startGateway } from '@detour/gateway';
import type { Io } from '../io.js';
import { printLine } from '../io.js';
import type { ServerLogging } from '../server-logging.js';
import { managerFromFlags } from '../manager-flags.js';
import type { ManagerFlags } from '../manager-flags.js';

export interface GatewayCommandOptions extends ManagerFlags {
  listen: number;
  host: string;
  domain: string;
  tokenFile: string;
  banner: boolean;
}

/** `detour gateway`: the preview gateway on its own (the Helm chart's optional Deployment). */
export async function gatewayCommand(options: GatewayCommandOptions, io: Io, { logger }: ServerLogging, signal: AbortSignal): Promise<number> {
  const { endpoint } = await managerFromFlags(options, io);
  const token = await readTokenFile(options.tokenFile);
  const gateway = await startGateway({ host: options.host, port: options.listen, domain: options.domain, manager: endpoint, token, banner: options.banner, logger });
  printLine(io, `preview gateway listening on ${gateway.url} (previews at http://<id>.${options.domain}:${gateway.address.port}/)`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await gateway.close();
  return 0;
}
