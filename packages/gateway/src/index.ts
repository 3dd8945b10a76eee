export { startGateway, GATEWAY_DEFAULTS } from './start-gateway.js';
export type { GatewayOptions, GatewayHandle } from './start-gateway.js';
export { LOOKUP_DEFAULTS } from './preview-lookup.js';
