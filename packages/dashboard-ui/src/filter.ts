import type { CapturedExchange } from './model.js';

/**
 * The inspector's filter: words that must all match. `status:4xx` or
 * `status:404`, `method:post`, `service:api`, `proto:grpc`; any other word is
 * looked for in the path, method, service and intercept name.
 */
export function matchesFilter(exchange: CapturedExchange, filter: string): boolean {
  for (const word of filter.toLowerCase().split(/\s+/).filter(Boolean)) {
    const colon = word.indexOf(':');
    const key = colon === -1 ? '' : word.slice(0, colon);
    const value = colon === -1 ? word : word.slice(colon + 1);
    switch (key) {
      case 'status': {
        const status = String(exchange.status ?? (exchange.state === 'error' ? 'error' : 'pending'));
        if (!(value.endsWith('xx') ? status.startsWith(value[0]!) : status === value)) return false;
        break;
      }
      case 'method':
        if (exchange.method.toLowerCase() !== value) return false;
        break;
      case 'service':
        if ((exchange.service ?? '').toLowerCase() !== value) return false;
        break;
      case 'proto':
        if (!exchange.protocol.includes(value)) return false;
        break;
      default:
        if (![exchange.path, exchange.method, exchange.service ?? '', exchange.interceptName ?? ''].some((s) => s.toLowerCase().includes(word))) return false;
    }
  }
  return true;
}
