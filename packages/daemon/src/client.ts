// `@detour/daemon/client`: what the CLI needs to talk to a running daemon, without loading the daemon itself.
export { DaemonClient } from './daemon-client.js';
export { DAEMON_PATHS } from './daemon-api.js';
export type { ConnectionState, DaemonStatus, DashboardInfo, DashboardStart, InterceptAsk, LocalIntercept, ManagerRouteStatus, PreviewAsk } from './daemon-api.js';
export { headerValueFor, loadClientId, resolveHome, sanitizeName } from './home.js';
export type { DetourHome } from './home.js';
