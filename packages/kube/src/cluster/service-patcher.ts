import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Logger } from '@detour/core';
import type { PodRef } from '../admission.js';
import type { NumericTarget } from '../inject.js';
import { ORIGINAL_TARGET_PORTS_ANNOTATION, agentPortNameForNumber, numberOfAgentPortName } from '../names.js';
import type { Service } from '../objects.js';
import { servicesSelecting } from '../selectors.js';
import { patchServiceForAgent, restoreService } from '../service-patch.js';
import { describeApiError } from './client.js';
import type { ClusterView } from './cluster-view.js';
import type { EventRecorder } from './events.js';
import { MERGE_PATCH, readModifyWrite } from './object-writes.js';

/** Pod changes come in bursts (a rollout): one pass per namespace after this quiet time. */
const SETTLE_MS = 200;

/** Pods that count for a Service: not being deleted, not finished. */
function live(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp === undefined && pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

function portNames(pod: V1Pod): Set<string> {
  return new Set((pod.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).flatMap((p) => (p.name === undefined ? [] : [p.name]))));
}

/**
 * Points Services that target a port by **number** at the injected agents
 * (`targetPort: 8080` → `detour-8080`, the original kept in an annotation), and
 * back. A named targetPort needs none of this: the agent took the name.
 *
 * When: a Service is patched once the webhook injected a pod it targets by number
 * (`wanted`) and every live pod it selects has the agent's port — a named targetPort
 * leaves pods without that name out of the Endpoints, so patching earlier would cut
 * pods off. Every replica passes the webhook and gets its own agent, so a Service of
 * N replicas is patched when all N carry one. A patched Service with a live pod that
 * lacks the agent (created while the manager was down: the webhook fails open) is
 * restored at once, whatever `wanted` says, and patched again only after a new
 * injection. `detour uninstall` opts the workloads out first, so no injection
 * follows and the restored Service stays restored.
 */
export class ServicePatcher {
  readonly #view: ClusterView;
  readonly #core: CoreV1Api;
  readonly #events: EventRecorder;
  readonly #logger: Logger;
  /** `namespace/service` → the target numbers injection fronted and the Service still needs patched to. */
  readonly #wanted = new Map<string, Set<number>>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  #closed = false;

  constructor(config: KubeConfig, view: ClusterView, events: EventRecorder, logger: Logger) {
    this.#core = config.makeApiClient(CoreV1Api);
    this.#view = view;
    this.#events = events;
    this.#logger = logger;
  }

  /** The webhook injected a pod with agents for these numeric targets (AdmissionHooks.injected). */
  injected(pod: PodRef, targets: readonly NumericTarget[]): void {
    for (const target of targets) {
      const key = `${pod.namespace}/${target.service}`;
      const set = this.#wanted.get(key) ?? new Set<number>();
      set.add(target.targetPort);
      this.#wanted.set(key, set);
    }
    if (targets.length > 0) this.changed(pod.namespace);
  }

  /** Something in the namespace changed (a pod or a Service): reconcile it after the burst settles. */
  changed(namespace: string): void {
    if (this.#closed) return;
    clearTimeout(this.#timers.get(namespace));
    this.#timers.set(namespace, setTimeout(() => this.#reconcile(namespace), SETTLE_MS));
  }

  /** Resolves when no pass is running or scheduled (for tests and a clean shutdown). */
  async idle(): Promise<void> {
    await Promise.all(this.#running.values());
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    await this.idle();
  }

  #reconcile(namespace: string): void {
    this.#timers.delete(namespace);
    if (this.#running.has(namespace)) {
      this.#again.add(namespace);
      return;
    }
    const run = this.#pass(namespace)
      .catch((err: unknown) => this.#logger.warn({ namespace, err: describeApiError(err) }, 'Service reconciliation failed; it runs again on the next change'))
      .finally(() => {
        this.#running.delete(namespace);
        if (this.#again.delete(namespace)) this.changed(namespace);
      });
    this.#running.set(namespace, run);
  }

  async #pass(namespace: string): Promise<void> {
    const snapshot = await this.#view.snapshot(namespace);
    if (snapshot === undefined) return;
    for (const service of snapshot.services) {
      const name = service.metadata?.name;
      if (name === undefined) continue;
      const selected = snapshot.pods.filter(live).filter((pod) => servicesSelecting([service as unknown as Service], pod.metadata?.labels ?? {}).length > 0);
      const missing = this.#podsWithoutAgents(service, selected);
      if (missing !== undefined) {
        await this.#restore(namespace, name, missing);
        continue;
      }
      const wanted = this.#wanted.get(`${namespace}/${name}`);
      if (wanted === undefined || selected.length === 0) continue;
      const ready = [...wanted].filter((target) => selected.every((pod) => portNames(pod).has(agentPortNameForNumber(target))));
      if (ready.length === wanted.size) await this.#patch(namespace, name, new Set(ready), selected.length);
    }
  }

  /** For a patched Service: the first live pod it selects that lacks an agent port it targets, as "pod NAME (no detour-8080)". */
  #podsWithoutAgents(service: V1Service, selected: readonly V1Pod[]): string | undefined {
    if (service.metadata?.annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION] === undefined) return undefined;
    for (const port of service.spec?.ports ?? []) {
      const target = port.targetPort;
      if (typeof target !== 'string' || numberOfAgentPortName(target) === undefined) continue;
      const lacking = selected.find((pod) => !portNames(pod).has(target));
      if (lacking !== undefined) return `pod ${lacking.metadata?.name ?? '?'} has no port ${target}`;
    }
    return undefined;
  }

  async #patch(namespace: string, name: string, targets: ReadonlySet<number>, pods: number): Promise<void> {
    const written = await this.#write(namespace, name, (service) => patchServiceForAgent(service, targets));
    this.#wanted.delete(`${namespace}/${name}`);
    if (written === undefined) return;
    const ports = [...targets].map((t) => `${t} → ${agentPortNameForNumber(t)}`).join(', ');
    this.#logger.info({ namespace, service: name, ports, pods }, 'Service targetPort pointed at the agents');
    await this.#events.record(this.#subject(written), 'Normal', 'DetourServicePatched', `targetPort ${ports}: all ${pods} selected pods have a detour agent; the original is kept in annotation ${ORIGINAL_TARGET_PORTS_ANNOTATION}`);
  }

  async #restore(namespace: string, name: string, why: string): Promise<void> {
    const written = await this.#write(namespace, name, restoreService);
    if (written === undefined) return;
    this.#logger.warn({ namespace, service: name, why }, 'Service targetPort restored: a selected pod has no agent');
    await this.#events.record(this.#subject(written), 'Warning', 'DetourServiceRestored', `original targetPort restored: ${why} (created while the detour manager was down, or opted out), so it would get no traffic`);
  }

  async #write(namespace: string, name: string, change: (service: Service) => Service): Promise<V1Service | undefined> {
    const result = await readModifyWrite<V1Service>(
      () => this.#core.readNamespacedService({ namespace, name }),
      (body) => this.#core.patchNamespacedService({ namespace, name, body }, MERGE_PATCH),
      (current) => change(current as unknown as Service) as unknown as V1Service,
    );
    return result?.after;
  }

  #subject(service: V1Service) {
    return { apiVersion: 'v1', kind: 'Service', namespace: service.metadata?.namespace ?? '', name: service.metadata?.name ?? '', ...(service.metadata?.uid === undefined ? {} : { uid: service.metadata.uid }) };
  }
}
