export { runDaemon, DAEMON_DEFAULTS } from './run-daemon.js';
export type { DaemonOptions, ManagerRoute } from './run-daemon.js';
export { CAPTURE_DEFAULTS } from './capture/exchange-ring.js';
