import type { Service } from './objects.js';

/**
 * The Services whose selector matches `labels` (all of its pairs). A Service
 * without a selector (its Endpoints are managed by hand) or of type ExternalName
 * selects no pod.
 */
export function servicesSelecting(services: readonly Service[], labels: Readonly<Record<string, string>>): Service[] {
  return services.filter((service) => {
    const selector = service.spec?.selector;
    if (service.spec?.type === 'ExternalName' || selector === undefined) return false;
    const pairs = Object.entries(selector);
    return pairs.length > 0 && pairs.every(([key, value]) => labels[key] === value);
  });
}
