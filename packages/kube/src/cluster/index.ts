export { loadKubeConfig, loadUserKubeConfig, httpStatus, describeApiError, bounded } from './client.js';
export { startManagerCluster } from './manager-cluster.js';
export type { ManagerCluster, ManagerClusterOptions, InterceptSummary } from './manager-cluster.js';
export { deleteIntercepts, uninstall } from './uninstall.js';
export type { UninstallOptions, UninstallReport } from './uninstall.js';
export { EVENT_COMPONENT } from './events.js';
export type { EventReason } from './events.js';
