import type { LogRing, Logger } from '@detour/core';

/** What a server command (manager, agent) logs to: its logger, and the ring of recent lines it keeps for `detour gather-logs`. */
export interface ServerLogging {
  logger: Logger;
  ring: LogRing;
}
