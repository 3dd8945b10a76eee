import type { Logger } from '@detour/core';
import type { AdmissionHooks, PodRef, ServiceLookup } from '../admission.js';
import { loadKubeConfig } from './client.js';
import { ClusterView } from './cluster-view.js';
import { EventRecorder } from './events.js';
import type { EventSubject } from './events.js';
import { ServicePatcher } from './service-patcher.js';

export interface ManagerClusterOptions {
  /** A kubeconfig file; without one, the pod's ServiceAccount. */
  kubeconfig?: string;
  /** The namespaces whose pods the webhook injects (the chart's managedNamespaces). */
  namespaces: readonly string[];
  logger: Logger;
}

/** An intercept as far as its Events go. */
export interface InterceptSummary {
  id: string;
  service: string;
  owner: { name: string };
}

/** What the manager's Kubernetes side gives the webhook and the state. */
export interface ManagerCluster {
  services: ServiceLookup;
  hooks: AdmissionHooks;
  /** The intercepts a restarted manager read from its store: they started before, no Event. */
  interceptsRestored(intercepts: readonly InterceptSummary[]): void;
  /** The intercepts now; Events say which started and which ended since the last call. */
  interceptsChanged(intercepts: readonly InterceptSummary[]): void;
  close(): Promise<void>;
}

const OWNER_API_VERSIONS: Record<string, string> = { ReplicaSet: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', Deployment: 'apps/v1', Job: 'batch/v1' };

/** The pod's controller where it has one (the pod itself has no name yet at admission). */
function subjectOf(pod: PodRef): EventSubject {
  if (pod.owner !== undefined) return { apiVersion: OWNER_API_VERSIONS[pod.owner.kind] ?? 'v1', kind: pod.owner.kind, namespace: pod.namespace, name: pod.owner.name };
  return { apiVersion: 'v1', kind: 'Pod', namespace: pod.namespace, name: pod.name };
}

/**
 * The manager's Kubernetes API client, for a manager run with the injector: the
 * cached Services and pods of the managed namespaces (the webhook's ServiceLookup),
 * the Service patcher for numeric targetPorts, and Events about injection, Service
 * patches and intercepts on the objects they concern.
 */
export async function startManagerCluster(options: ManagerClusterOptions): Promise<ManagerCluster> {
  const { logger } = options;
  const config = loadKubeConfig(options.kubeconfig);
  const events = new EventRecorder(config, logger);
  // The view's changes go to the patcher, which reads the view: the callback only runs once both exist (after start()).
  const view: ClusterView = new ClusterView(config, options.namespaces, logger, (namespace) => patcher.changed(namespace));
  const patcher = new ServicePatcher(config, view, events, logger);
  await view.start();
  let known = new Map<string, InterceptSummary>();

  const servicesNamed = (name: string) =>
    Promise.all(options.namespaces.map(async (namespace) => ((await view.snapshot(namespace))?.services ?? []).filter((s) => s.metadata?.name === name)));

  const interceptEvent = (intercept: InterceptSummary, started: boolean) =>
    servicesNamed(intercept.service).then(async (found) => {
      for (const service of found.flat()) {
        const subject: EventSubject = { apiVersion: 'v1', kind: 'Service', namespace: service.metadata?.namespace ?? '', name: intercept.service, ...(service.metadata?.uid === undefined ? {} : { uid: service.metadata.uid }) };
        await (started
          ? events.record(subject, 'Normal', 'DetourInterceptStarted', `${intercept.owner.name} intercepts Service ${intercept.service} (intercept ${intercept.id}); \`kubectl get intercept ${intercept.id}\` shows its matchers`)
          : events.record(subject, 'Normal', 'DetourInterceptEnded', `${intercept.owner.name}'s intercept ${intercept.id} of Service ${intercept.service} ended`));
      }
    });

  return {
    services: view,
    hooks: {
      skipped: (pod, reason) => void events.record(subjectOf(pod), 'Warning', 'DetourNotInjected', `pod ${pod.name} admitted without a detour agent: ${reason}`),
      injected: (pod, numericTargets) => {
        void events.record(subjectOf(pod), 'Normal', 'DetourInjected', `pod ${pod.name}: detour agent injected`);
        patcher.injected(pod, numericTargets);
      },
    },
    interceptsRestored: (intercepts) => {
      known = new Map(intercepts.map((i) => [i.id, i]));
    },
    interceptsChanged: (intercepts) => {
      const now = new Map(intercepts.map((i) => [i.id, i]));
      for (const [id, intercept] of now) if (!known.has(id)) void interceptEvent(intercept, true);
      for (const [id, intercept] of known) if (!now.has(id)) void interceptEvent(intercept, false);
      known = now;
    },
    close: async () => {
      await patcher.close();
      await view.stop();
    },
  };
}
