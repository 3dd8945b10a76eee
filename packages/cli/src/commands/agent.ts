import { readTokenFile } from '@detour/core';
import type { Logger } from '@detour/core';
import { startAgent } from '@detour/agent';
import type { Io } from '../io.js';
import { printLine } from '../io.js';

export interface AgentCommandOptions {
  service: string;
  listen: number;
  host: string;
  app: string;
  manager: string;
  tokenFile: string;
  maxHeaderBytes?: number;
  headerTimeoutMs?: number;
}

export async function agentCommand(options: AgentCommandOptions, io: Io, logger: Logger, signal: AbortSignal): Promise<number> {
  const token = await readTokenFile(options.tokenFile);
  const agent = await startAgent({
    service: options.service,
    listenHost: options.host,
    listenPort: options.listen,
    appUrl: options.app,
    managerUrl: options.manager,
    token,
    logger,
    ...(options.maxHeaderBytes === undefined ? {} : { maxHeaderBytes: options.maxHeaderBytes }),
    ...(options.headerTimeoutMs === undefined ? {} : { headerTimeoutMs: options.headerTimeoutMs }),
  });
  printLine(io, `agent ${options.service} listening on http://${options.host.includes(':') ? `[${agent.address.host}]` : agent.address.host}:${agent.address.port}`);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await agent.close();
  return 0;
}
