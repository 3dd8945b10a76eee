import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { InterceptStore, StoredIntercept } from './intercept-store.js';

interface FlushWaiter {
  revision: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Keeps a store in step with the state. Changes are coalesced: one save runs at a
 * time and always writes the latest snapshot, so a burst of changes (a tunnel
 * dropping takes all its intercepts offline) costs one or two writes, not one each.
 * A failed save is retried with backoff until one succeeds or the manager closes.
 */
export class StoreSync {
  readonly #store: InterceptStore;
  readonly #snapshot: () => StoredIntercept[];
  readonly #logger: Logger;
  readonly #backoff = new Backoff({ initialMs: 100, maxMs: 5_000, multiplier: 2 });
  readonly #waiters = new Set<FlushWaiter>();
  readonly #closed = new AbortController();
  /** Bumped by every change; `#saved` is the revision the store is known to hold. */
  #revision = 0;
  #saved = 0;
  #running: Promise<void> | undefined;

  constructor(store: InterceptStore, snapshot: () => StoredIntercept[], logger: Logger) {
    this.#store = store;
    this.#snapshot = snapshot;
    this.#logger = logger;
  }

  /** Something changed: schedules a save. */
  changed(): void {
    this.#revision += 1;
    if (this.#closed.signal.aborted) return;
    this.#running ??= this.#run().finally(() => (this.#running = undefined));
  }

  /**
   * Resolves once the store holds every change made before the call; rejects with
   * DETOUR_ERR_STATE_WRITE_FAILED if the save that should have carried them failed
   * (it is still retried in the background).
   */
  async flush(): Promise<void> {
    if (this.#saved >= this.#revision) return;
    await new Promise<void>((resolve, reject) => this.#waiters.add({ revision: this.#revision, resolve, reject }));
  }

  /** Stops retrying, after the save under way (if any) ends; waiters left are rejected. */
  async close(): Promise<void> {
    this.#closed.abort();
    await this.#running;
    this.#settle(new DetourError('DETOUR_ERR_STATE_WRITE_FAILED', `the manager closed before ${this.#store.description} was written`));
  }

  async #run(): Promise<void> {
    while (this.#saved < this.#revision && !this.#closed.signal.aborted) {
      const revision = this.#revision;
      try {
        await this.#store.save(this.#snapshot());
        this.#saved = revision;
        this.#backoff.reset();
        this.#settle();
      } catch (cause) {
        const err = new DetourError('DETOUR_ERR_STATE_WRITE_FAILED', `could not write the intercepts to ${this.#store.description}: ${(cause as Error).message}`, { cause });
        this.#logger.warn({ err: err.message }, 'state save failed; retrying');
        this.#settle(err, revision);
        try {
          await sleep(this.#backoff.nextDelayMs(), undefined, { signal: this.#closed.signal });
        } catch {
          return;
        }
      }
    }
  }

  /** Resolves the waiters the store now satisfies; with `err`, rejects those up to `failedRevision` instead. */
  #settle(err?: Error, failedRevision = Infinity): void {
    for (const waiter of [...this.#waiters]) {
      if (err === undefined && waiter.revision <= this.#saved) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      } else if (err !== undefined && waiter.revision <= failedRevision) {
        this.#waiters.delete(waiter);
        waiter.reject(err);
      }
    }
  }
}
