import type { ServiceList } from '@detour/protocol';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DetourHome } from '@detour/daemon/client';
import { describeMatchers, describeMode, describeState } from '../format.js';
import type { Io, OutputFormat } from '../io.js';
import { formatTable, printJson, printLine } from '../io.js';

export async function listCommand(output: OutputFormat, io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  let list: ServiceList;
  try {
    list = await client.call<ServiceList>('GET', DAEMON_PATHS.services);
  } finally {
    await client.close();
  }
  if (output === 'json') {
    printJson(io, list);
    return 0;
  }
  if (list.services.length === 0) {
    printLine(io, 'No services: no agent has connected to the manager yet.');
    return 0;
  }
  const rows: string[][] = [];
  for (const service of list.services) {
    const agents = String(service.agents.length);
    if (service.intercepts.length === 0) {
      rows.push([service.name, agents, '-', '-', '-', 'not intercepted']);
      continue;
    }
    for (const intercept of service.intercepts) {
      rows.push([service.name, agents, intercept.name, intercept.owner.name, `${describeMatchers(intercept)}${describeMode(intercept)}`, describeState(intercept, undefined)]);
    }
  }
  printLine(io, formatTable(['SERVICE', 'AGENTS', 'INTERCEPT', 'OWNER', 'MATCHING', 'STATE'], rows));
  return 0;
}
