import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '@detour/core';
import { bounded, describeApiError } from './client.js';

/** The object an Event is about (its `involvedObject`). */
export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

/** The reasons detour's Events carry (CamelCase, as Kubernetes reasons are); `kubectl get events --field-selector reason=…` finds them. */
export type EventReason =
  | 'DetourInjected'
  | 'DetourNotInjected'
  | 'DetourServicePatched'
  | 'DetourServiceRestored'
  | 'DetourInterceptStarted'
  | 'DetourInterceptEnded';

export const EVENT_COMPONENT = 'detour-manager';

/**
 * Kubernetes Events (core/v1) about what detour did to an object, so `kubectl
 * describe` of a ReplicaSet or a Service shows it next to the scheduler's and the
 * kubelet's. Best effort: an Event that cannot be written is a log line, never an
 * error for the action it describes.
 */
export class EventRecorder {
  readonly #core: CoreV1Api;
  readonly #logger: Logger;
  readonly #instance = hostname();

  constructor(config: KubeConfig, logger: Logger) {
    this.#core = config.makeApiClient(CoreV1Api);
    this.#logger = logger;
  }

  async record(subject: EventSubject, type: EventType, reason: EventReason, message: string): Promise<void> {
    const now = new Date();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      // The API's own convention: the object's name, a dot, something unique.
      metadata: { name: `${subject.name}.${randomBytes(8).toString('hex')}`, namespace: subject.namespace },
      involvedObject: { apiVersion: subject.apiVersion, kind: subject.kind, namespace: subject.namespace, name: subject.name, ...(subject.uid === undefined ? {} : { uid: subject.uid }) },
      type,
      reason,
      // The API server caps an Event's message at 1 KiB.
      message: message.slice(0, 1024),
      source: { component: EVENT_COMPONENT },
      reportingComponent: `detour.dev/${EVENT_COMPONENT}`,
      reportingInstance: this.#instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await bounded(this.#core.createNamespacedEvent({ namespace: subject.namespace, body }), 5_000);
    } catch (err) {
      this.#logger.warn({ subject: `${subject.kind} ${subject.namespace}/${subject.name}`, reason, err: describeApiError(err) }, 'could not write a Kubernetes Event');
    }
  }
}
