export { startManager, MANAGER_DEFAULTS } from './server.js';
export type { ManagerOptions, ManagerHandle, InterceptObserver } from './server.js';
export { ManagerState } from './state.js';
export type { ManagerStateOptions } from './state.js';
export { startWebhook, WEBHOOK_PATH, WEBHOOK_DEFAULTS } from './webhook-server.js';
export type { WebhookOptions, WebhookHandle } from './webhook-server.js';
export { FileInterceptStore } from './store/file-store.js';
export type { FileStoreOptions } from './store/file-store.js';
export type { InterceptStore, StoredIntercept } from './store/intercept-store.js';
