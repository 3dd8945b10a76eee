// Loaded only by `detour manager --state kubernetes` (a dynamic import in the CLI):
// @kubernetes/client-node is large, and no other process needs it.
import { CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { describeApiError, httpStatus, loadKubeConfig } from '@detour/kube/cluster';
import type { InterceptStore, StoredIntercept } from './intercept-store.js';
import { INTERCEPT_RESOURCE, fromObject, specPart, toObject } from './kube-objects.js';
import type { InterceptObject } from './kube-objects.js';

export interface KubeStoreOptions {
  namespace: string;
  /** A kubeconfig file; without one, the pod's ServiceAccount (in-cluster config). */
  kubeconfig?: string;
  logger: Logger;
  /** How many times one update is retried after a 409 Conflict before the save fails (and StoreSync retries it later). */
  maxConflictRetries?: number;
  /** Bound on each API call, so that a hung API server cannot hold every later save behind it. */
  requestTimeoutMs?: number;
}

export const KUBE_STORE_DEFAULTS = { maxConflictRetries: 5, requestTimeoutMs: 10_000 } as const;

/** What the manager last wrote for an intercept, and the resourceVersion that write produced. */
interface Known {
  name: string;
  resourceVersion: string;
  /** JSON of the spec part and of the status last written; '' means unknown (an object found, not written). */
  spec: string;
  status: string;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * `detour manager --state kubernetes`: each intercept is an `intercepts.detour.dev`
 * object in the manager's namespace, so `kubectl get intercepts` shows who
 * intercepts what, and a rescheduled manager picks them all up.
 *
 * Writes follow the API conventions' optimistic concurrency: every update is a
 * JSON merge patch (RFC 7386) carrying the resourceVersion the manager last saw,
 * so an object someone else changed meanwhile answers 409 Conflict; the manager
 * then reads it again and re-applies its change on top (its own fields win: the
 * manager is the only writer of spec and status). The status goes through the
 * status subresource, as the CRD declares one.
 *
 * A list then a watch from the list's resourceVersion notice objects deleted by
 * someone else (`kubectl delete intercept X`): the intercept is dropped from the
 * agents. A watch whose resourceVersion is too old (410 Gone) is replaced by a
 * fresh list, which catches the deletions the watch missed.
 */
export class KubeInterceptStore implements InterceptStore {
  readonly description: string;
  readonly #namespace: string;
  readonly #api: CustomObjectsApi;
  readonly #watcher: Watch;
  readonly #logger: Logger;
  readonly #maxConflictRetries: number;
  readonly #requestTimeoutMs: number;
  readonly #known = new Map<string, Known>();
  readonly #backoff = new Backoff({ initialMs: 200, maxMs: 10_000, multiplier: 2 });
  readonly #closed = new AbortController();
  /** Where the watch resumes: the resourceVersion of the last list or event. */
  #resourceVersion = '';
  #watchAbort: AbortController | undefined;
  #watching: Promise<void> | undefined;
  #onDeleted: ((interceptId: string) => void) | undefined;
  /** Saves and re-lists take turns: a list answered before a create must not make that create look deleted. */
  #turn: Promise<unknown> = Promise.resolve();
  /** How many 409 Conflicts were met and retried (for logs and tests). */
  conflicts = 0;

  constructor(config: KubeConfig, options: KubeStoreOptions) {
    this.#namespace = options.namespace;
    this.description = `Kubernetes namespace ${options.namespace} (${INTERCEPT_RESOURCE.plural}.${INTERCEPT_RESOURCE.group})`;
    this.#api = config.makeApiClient(CustomObjectsApi);
    this.#watcher = new Watch(config);
    this.#logger = options.logger;
    this.#maxConflictRetries = options.maxConflictRetries ?? KUBE_STORE_DEFAULTS.maxConflictRetries;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? KUBE_STORE_DEFAULTS.requestTimeoutMs;
  }

  async load(): Promise<StoredIntercept[]> {
    try {
      return await this.#exclusive(async () => (await this.#list()).stored);
    } catch (err) {
      throw new DetourError('DETOUR_ERR_STATE_LOAD_FAILED', `cannot list the intercepts in ${this.description}: ${describeApiError(err)}`, { cause: err });
    }
  }

  save(intercepts: readonly StoredIntercept[]): Promise<void> {
    return this.#exclusive(async () => {
      const desired = new Map(intercepts.map((stored) => [stored.intercept.id, toObject(stored, this.#namespace)]));
      for (const [id, known] of [...this.#known]) {
        if (desired.has(id)) continue;
        await this.#call((api) => api.deleteNamespacedCustomObject({ ...this.#resource(), name: known.name })).catch((err: unknown) => {
          if (httpStatus(err) !== 404) throw err;
        });
        this.#known.delete(id);
      }
      for (const [id, object] of desired) await this.#write(id, object);
    });
  }

  watchDeletions(onDeleted: (interceptId: string) => void): void {
    this.#watching ??= this.#watchLoop(onDeleted);
  }

  async close(): Promise<void> {
    this.#closed.abort();
    this.#watchAbort?.abort();
    await this.#watching;
  }

  #resource() {
    return { group: INTERCEPT_RESOURCE.group, version: INTERCEPT_RESOURCE.version, namespace: this.#namespace, plural: INTERCEPT_RESOURCE.plural };
  }

  async #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(work, work);
    this.#turn = run.catch(() => undefined);
    return run;
  }

  /** One API call, bounded in time. */
  async #call<T>(request: (api: CustomObjectsApi) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the Kubernetes API did not answer within ${this.#requestTimeoutMs} ms`)), this.#requestTimeoutMs);
    });
    try {
      return await Promise.race([request(this.#api), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lists every intercept object and remembers each as known; objects that do not parse are logged and left alone. */
  async #list(): Promise<{ stored: StoredIntercept[]; ids: Set<string> }> {
    const list = (await this.#call((api) => api.listNamespacedCustomObject(this.#resource()))) as { metadata?: { resourceVersion?: string }; items?: unknown[] };
    this.#resourceVersion = list.metadata?.resourceVersion ?? '';
    const stored: StoredIntercept[] = [];
    const ids = new Set<string>();
    for (const item of list.items ?? []) {
      const name = (item as { metadata?: { name?: string } }).metadata?.name ?? '(no name)';
      const read = fromObject(item);
      if ('problem' in read) {
        this.#logger.warn({ object: name, problem: read.problem }, 'ignoring an intercept object the manager cannot read');
        continue;
      }
      const { id } = read.stored.intercept;
      ids.add(id);
      stored.push(read.stored);
      if (!this.#known.has(id)) {
        const object = toObject(read.stored, this.#namespace);
        const resourceVersion = (item as InterceptObject).metadata.resourceVersion ?? '';
        this.#known.set(id, { name, resourceVersion, spec: JSON.stringify(specPart(object)), status: JSON.stringify(object.status) });
      }
    }
    return { stored, ids };
  }

  /** Creates or updates one object so that it says what `object` says. */
  async #write(id: string, object: InterceptObject): Promise<void> {
    let known = this.#known.get(id);
    const spec = JSON.stringify(specPart(object));
    const status = JSON.stringify(object.status);
    if (known === undefined) {
      // The status subresource ignores a status sent with the object; it is written below.
      const body = { ...object, status: undefined };
      try {
        const created = (await this.#call((api) => api.createNamespacedCustomObject({ ...this.#resource(), body }))) as InterceptObject;
        known = { name: object.metadata.name, resourceVersion: created.metadata.resourceVersion ?? '', spec, status: '' };
      } catch (err) {
        if (httpStatus(err) !== 409) throw err;
        // AlreadyExists: an object of this name that the manager does not know (written before a crash, or by hand); it takes it over.
        const existing = await this.#get(object.metadata.name);
        known = { name: object.metadata.name, resourceVersion: existing.metadata.resourceVersion ?? '', spec: '', status: '' };
      }
      this.#known.set(id, known);
    }
    try {
      if (known.spec !== spec) {
        await this.#patch(known, specPart(object), false);
        known.spec = spec;
      }
      if (known.status !== status) {
        await this.#patch(known, { status: object.status }, true);
        known.status = status;
      }
    } catch (err) {
      if (httpStatus(err) !== 404) throw err;
      // Deleted by someone else between two writes: as if the watch had said so (its event may still come; it then finds nothing).
      this.#known.delete(id);
      this.#onDeleted?.(id);
    }
  }

  async #get(name: string): Promise<InterceptObject> {
    return (await this.#call((api) => api.getNamespacedCustomObject({ ...this.#resource(), name }))) as InterceptObject;
  }

  /** A merge patch with the last seen resourceVersion as precondition; on 409 Conflict, re-read and retry (bounded). */
  async #patch(known: Known, body: { metadata?: object; spec?: object; status?: object }, status: boolean): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      const patch = { ...body, metadata: { ...body.metadata, resourceVersion: known.resourceVersion } };
      try {
        const request = { ...this.#resource(), name: known.name, body: patch };
        const updated = (await this.#call((api) => (status ? api.patchNamespacedCustomObjectStatus(request, MERGE_PATCH) : api.patchNamespacedCustomObject(request, MERGE_PATCH)))) as InterceptObject;
        known.resourceVersion = updated.metadata.resourceVersion ?? known.resourceVersion;
        return;
      } catch (err) {
        if (httpStatus(err) !== 409 || attempt >= this.#maxConflictRetries) throw err;
        this.conflicts += 1;
        this.#logger.info({ object: known.name, attempt: attempt + 1 }, 'intercept object changed meanwhile (409 Conflict); re-reading it and retrying');
        known.resourceVersion = (await this.#get(known.name)).metadata.resourceVersion ?? '';
      }
    }
  }

  /** An object the manager knew is gone: tell the state, once. */
  #deleted(id: string): void {
    if (!this.#known.delete(id)) return;
    this.#logger.info({ interceptId: id, namespace: this.#namespace }, 'intercept object deleted in the cluster; removing the intercept');
    this.#onDeleted?.(id);
  }

  async #watchLoop(onDeleted: (interceptId: string) => void): Promise<void> {
    this.#onDeleted = onDeleted;
    let relist = false;
    while (!this.#closed.signal.aborted) {
      const startedAt = Date.now();
      let outcome: 'gone' | 'ended' | 'failed';
      if (relist) {
        outcome = await this.#relist();
      } else {
        outcome = await this.#watchOnce();
      }
      if (this.#closed.signal.aborted) break;
      relist = outcome === 'gone' || (relist && outcome === 'failed');
      // A watch the server ended after a while (its timeout) resumes at once; quick failures back off.
      if (outcome === 'ended' && Date.now() - startedAt > 1_000) {
        this.#backoff.reset();
        continue;
      }
      if (outcome === 'gone') continue;
      try {
        await sleep(this.#backoff.nextDelayMs(), undefined, { signal: this.#closed.signal });
      } catch {
        break;
      }
    }
  }

  /** A fresh list after 410 Gone: what the manager knew and the list lacks was deleted while the watch was not looking. */
  async #relist(): Promise<'ended' | 'failed'> {
    try {
      await this.#exclusive(async () => {
        const { ids } = await this.#list();
        for (const id of [...this.#known.keys()]) if (!ids.has(id)) this.#deleted(id);
      });
      this.#logger.info({ resourceVersion: this.#resourceVersion }, 'intercepts re-listed after the watch expired');
      return 'ended';
    } catch (err) {
      this.#logger.warn({ err: describeApiError(err) }, 'could not re-list the intercepts; retrying');
      return 'failed';
    }
  }

  /** One watch request, until the server ends it, it fails, or it reports 410 Gone. */
  async #watchOnce(): Promise<'gone' | 'ended' | 'failed'> {
    const path = `/apis/${INTERCEPT_RESOURCE.group}/${INTERCEPT_RESOURCE.version}/namespaces/${this.#namespace}/${INTERCEPT_RESOURCE.plural}`;
    let gone = false;
    return new Promise((resolve) => {
      const onEvent = (type: string, object: unknown) => {
        if (type === 'ERROR') {
          // The server's way to say 410 Gone on a watch already open: a Status object as the event.
          if ((object as { code?: number }).code === 410) gone = true;
          return;
        }
        const metadata = (object as InterceptObject).metadata;
        if (metadata.resourceVersion !== undefined) this.#resourceVersion = metadata.resourceVersion;
        if (type === 'DELETED') {
          const read = fromObject(object);
          if ('stored' in read) this.#deleted(read.stored.intercept.id);
        }
      };
      const onDone = (err: unknown) => {
        if (err !== null && err !== undefined && !this.#closed.signal.aborted && !gone && httpStatus(err) !== 410) {
          this.#logger.warn({ err: describeApiError(err) }, 'intercept watch failed; resuming');
          resolve('failed');
          return;
        }
        resolve(gone || httpStatus(err) === 410 ? 'gone' : 'ended');
      };
      this.#watcher.watch(path, { resourceVersion: this.#resourceVersion, allowWatchBookmarks: true }, onEvent, onDone).then(
        (controller) => {
          this.#watchAbort = controller;
          if (this.#closed.signal.aborted) controller.abort();
        },
        (err: unknown) => onDone(err),
      );
    });
  }
}

/** Reads the cluster credentials (a kubeconfig, or the ServiceAccount's when none is given) and makes the store. */
export function openKubeStore(options: KubeStoreOptions): KubeInterceptStore {
  return new KubeInterceptStore(loadKubeConfig(options.kubeconfig), options);
}
