export { startAgent } from './start-agent.js';
export type { AgentHandle } from './start-agent.js';
export { DEFAULTS } from './options.js';
export type { AgentOptions } from './options.js';
export { routeChannel } from './diagnostics.js';
export type { RouteEvent, RouteKind } from './diagnostics.js';
export { linkChannel } from './manager-link.js';
export type { LinkState } from './manager-link.js';
