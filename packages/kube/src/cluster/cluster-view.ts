import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod, V1Service } from '@kubernetes/client-node';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { ServiceLookup } from '../admission.js';
import type { Service } from '../objects.js';
import { ResourceCache } from './cache.js';

/** How long a webhook call waits for a namespace's first list (the webhook's own timeout is a few seconds). */
const FIRST_LIST_WAIT_MS = 2_000;

/**
 * The manager's view of the managed namespaces: their Services and pods, each a
 * cached list+watch. The webhook reads Services from it (no API call per pod
 * admission), the Service patcher reads both. Only the namespaces it is given are
 * watched, which is what the chart's per-namespace Roles allow.
 */
export class ClusterView implements ServiceLookup {
  readonly namespaces: readonly string[];
  readonly #services = new Map<string, ResourceCache<V1Service>>();
  readonly #pods = new Map<string, ResourceCache<V1Pod>>();

  constructor(config: KubeConfig, namespaces: readonly string[], logger: Logger, onChange: (namespace: string) => void) {
    this.namespaces = namespaces;
    const core = config.makeApiClient(CoreV1Api);
    for (const namespace of namespaces) {
      this.#services.set(namespace, new ResourceCache(config, `/api/v1/namespaces/${namespace}/services`, () => core.listNamespacedService({ namespace }), logger, () => onChange(namespace)));
      this.#pods.set(namespace, new ResourceCache(config, `/api/v1/namespaces/${namespace}/pods`, () => core.listNamespacedPod({ namespace }), logger, () => onChange(namespace)));
    }
  }

  async start(): Promise<void> {
    await Promise.all([...this.#services.values(), ...this.#pods.values()].map((cache) => cache.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#services.values(), ...this.#pods.values()].map((cache) => cache.stop()));
  }

  async servicesIn(namespace: string): Promise<Service[]> {
    const cache = this.#services.get(namespace);
    if (cache === undefined) throw new DetourError('DETOUR_ERR_WEBHOOK_NO_SERVICES', `namespace ${namespace} is not one the manager manages (--watch-namespace)`);
    if (!(await cache.synced(FIRST_LIST_WAIT_MS))) throw new DetourError('DETOUR_ERR_WEBHOOK_NO_SERVICES', `the Services of namespace ${namespace} are not listed yet`);
    return [...cache.list(namespace)] as unknown as Service[];
  }

  /** Synced caches only: an empty list because nothing arrived yet must not look like "no pods". */
  async snapshot(namespace: string): Promise<{ services: readonly V1Service[]; pods: readonly V1Pod[] } | undefined> {
    const services = this.#services.get(namespace);
    const pods = this.#pods.get(namespace);
    if (services === undefined || pods === undefined) return undefined;
    if (!(await services.synced(0)) || !(await pods.synced(0))) return undefined;
    return { services: services.list(namespace), pods: pods.list(namespace) };
  }
}
