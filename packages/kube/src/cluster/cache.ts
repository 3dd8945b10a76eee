import { setTimeout as sleep } from 'node:timers/promises';
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { Backoff } from '@detour/core';
import type { Logger } from '@detour/core';
import { describeApiError } from './client.js';

/**
 * One namespace's objects of one kind, kept current by client-node's ListWatch:
 * a list, then a watch from the list's resourceVersion, and a fresh list when the
 * watch answers 410 Gone (its resourceVersion compacted away). ListWatch stops on
 * any other error; this restarts it with backoff, so a restarted API server or a
 * dropped connection only delays the cache.
 */
export class ResourceCache<T extends KubernetesObject> {
  readonly #informer: ListWatch<T>;
  readonly #logger: Logger;
  readonly #what: string;
  readonly #backoff = new Backoff({ initialMs: 200, maxMs: 10_000, multiplier: 2 });
  readonly #stopped = new AbortController();
  #synced = false;
  readonly #syncWaiters = new Set<() => void>();

  constructor(config: KubeConfig, path: string, list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>, logger: Logger, onChange: () => void) {
    this.#what = path;
    this.#logger = logger;
    this.#informer = new ListWatch<T>(path, new Watch(config), list as never, false);
    for (const verb of ['add', 'update', 'delete'] as const) this.#informer.on(verb, () => onChange());
    this.#informer.on('error', (err: unknown) => void this.#restart(err));
  }

  async start(): Promise<void> {
    await this.#informer.start();
    this.#markSynced();
  }

  /** Resolves once the first list arrived, or false after `timeoutMs`. */
  async synced(timeoutMs: number): Promise<boolean> {
    if (this.#synced) return true;
    let timer: NodeJS.Timeout | undefined;
    let waiter: (() => void) | undefined;
    const result = await Promise.race([
      new Promise<boolean>((resolve) => {
        waiter = () => resolve(true);
        this.#syncWaiters.add(waiter);
      }),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (waiter !== undefined) this.#syncWaiters.delete(waiter);
    return result;
  }

  list(namespace: string): readonly T[] {
    return this.#informer.list(namespace);
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    await this.#informer.stop();
  }

  #markSynced(): void {
    // ListWatch.start() resolves once the list is in and the watch open; a failed list leaves the latest version empty.
    if (this.#informer.latestResourceVersion() === '') return;
    this.#backoff.reset();
    this.#synced = true;
    for (const waiter of this.#syncWaiters) waiter();
    this.#syncWaiters.clear();
  }

  async #restart(err: unknown): Promise<void> {
    if (this.#stopped.signal.aborted) return;
    this.#logger.warn({ resource: this.#what, err: describeApiError(err) }, 'Kubernetes list/watch failed; retrying');
    try {
      await sleep(this.#backoff.nextDelayMs(), undefined, { signal: this.#stopped.signal });
    } catch {
      return;
    }
    await this.#informer.start().catch(() => undefined);
    this.#markSynced();
  }
}
