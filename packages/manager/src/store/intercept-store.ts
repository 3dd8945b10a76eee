import type { Intercept, StoredPreview } from '@detour/protocol';

/**
 * What outlives a manager process: each intercept with its owner. Sessions are
 * not stored. They are leases with a secret key that only their daemon holds,
 * and a daemon that finds its session gone (SESSION_UNKNOWN) opens a new one and
 * re-asserts its intercepts by id anyway; a restored intercept waits, offline,
 * for that re-assertion (ManagerState.restore).
 */
export interface StoredIntercept {
  intercept: Intercept;
  /**
   * SHA-256 (hex) of the owner's daemon `clientId`. It lets that daemon home, and
   * only it, reclaim the intercept from a new session, without the store holding
   * the id itself: whoever can read the store (`kubectl get intercepts -o yaml`)
   * must not learn what it takes to impersonate the developer.
   */
  clientHash: string;
  /** Its preview URLs (hashed ids only); absent when it has none, and in stores written before previews. */
  previews?: StoredPreview[];
}

/**
 * Where the manager keeps its intercepts: a local file (`--state-file`) or
 * Kubernetes objects (`--state kubernetes`). The state logic (state.ts) never
 * sees which; it hands over snapshots through StoreSync.
 */
export interface InterceptStore {
  /** Says where the state lives, for logs and error messages ("file /var/lib/detour/state.json"). */
  readonly description: string;
  /**
   * Reads every stored intercept. Called once, before the manager listens; a store
   * it cannot read stops the start-up with an error that names it, rather than
   * starting empty and overwriting what it could not read.
   */
  load(): Promise<StoredIntercept[]>;
  /** Makes the store hold exactly `intercepts` (ids not listed are removed). Calls never overlap. */
  save(intercepts: readonly StoredIntercept[]): Promise<void>;
  /**
   * Starts telling about intercepts removed by someone else (`kubectl delete
   * intercept X`). Stores that nobody else writes need not implement it.
   */
  watchDeletions?(onDeleted: (interceptId: string) => void): void;
  /** Stops watching; idempotent. */
  close(): Promise<void>;
}
