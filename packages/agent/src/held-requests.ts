import type { Intercept } from '@detour/protocol';
import type { HoldOutcome } from './diagnostics.js';

/**
 * Most requests (and raw TCP connections) one agent holds at once. Each holds
 * its client connection and what the agent read of it; past the limit a new
 * one does not wait but falls back to the app at once (`hold-limit`).
 */
export const MAX_HELD_REQUESTS = 1000;

/**
 * Largest declared request body (Content-Length, on either protocol) a held
 * request may have; a larger one falls back at once (`body-over-bound`). A
 * held request's body is not read while it waits, so what the agent keeps of
 * it is bounded by flow control as well: HTTP/1.1 stops reading once
 * `maxHeaderBytes` wait unread, HTTP/2 once the stream window (the same
 * 1 MiB, STREAM_WINDOW_BYTES) is used up.
 */
export const MAX_HELD_BODY_BYTES = 1024 * 1024;

/**
 * How a wait ends, as the router turns it into a route: `current` is the
 * intercept in the rule set now (undefined: removed).
 */
export type HoldEnd = (outcome: HoldOutcome, current: Intercept | undefined) => void;

/** One waiting request. `cancel()` (the client went away) ends the wait without a route; idempotent. */
export class HeldRequest {
  readonly method: string;
  readonly target: string;
  /** Epoch ms when it began to wait, and when it stops (a late refusal after a wake waits on to the same deadline). */
  readonly sinceMs: number;
  readonly untilMs: number;
  /** The intercept as the latest rule set has it. */
  intercept: Intercept;
  readonly end: HoldEnd;
  timer: NodeJS.Timeout | undefined;
  readonly #queue: HoldQueue;

  constructor(
    queue: HoldQueue,
    ask: { method: string; target: string; intercept: Intercept; sinceMs: number; untilMs: number },
    end: HoldEnd,
  ) {
    this.#queue = queue;
    this.method = ask.method;
    this.target = ask.target;
    this.intercept = ask.intercept;
    this.sinceMs = ask.sinceMs;
    this.untilMs = ask.untilMs;
    this.end = end;
  }

  cancel(): void {
    this.#queue.release(this);
  }
}

/**
 * The requests an agent holds, with one timer each (unref'd: a held request
 * never keeps the process alive). Plain bookkeeping: the router decides where
 * each goes when its wait ends (HeldRequest.end), and publishes it.
 */
export class HoldQueue {
  readonly #held = new Set<HeldRequest>();
  #recheckDue = false;

  get size(): number {
    return this.#held.size;
  }

  /** Starts a wait; the caller checked the limit and that `untilMs` is ahead of `sinceMs`. */
  add(held: HeldRequest): void {
    this.#held.add(held);
    held.timer = setTimeout(() => this.#finish(held, 'expired', held.intercept), held.untilMs - held.sinceMs).unref();
  }

  /** Removes a wait without ending it (cancel, or the router ends it); idempotent. */
  release(held: HeldRequest): boolean {
    if (!this.#held.delete(held)) return false;
    clearTimeout(held.timer);
    return true;
  }

  /**
   * A new rule set was installed: every wait is checked against `current()` —
   * its intercept online again, removed, or with another policy ends it.
   * Deferred to a microtask: the link installs a reconnect's first rule set
   * before it calls itself ready, and a woken request opens its relay stream
   * at once. Several rule sets in one read are checked once, against the last.
   */
  recheck(current: () => ReadonlyMap<string, Intercept>): void {
    if (this.#held.size === 0 || this.#recheckDue) return;
    this.#recheckDue = true;
    queueMicrotask(() => {
      this.#recheckDue = false;
      const intercepts = current();
      for (const held of [...this.#held]) {
        const now = intercepts.get(held.intercept.id);
        if (now === undefined) this.#finish(held, 'removed', undefined);
        else if (!now.online && now.onDisconnect === 'hold') held.intercept = now;
        else this.#finish(held, now.online ? 'online' : 'policy-changed', now);
      }
    });
  }

  #finish(held: HeldRequest, outcome: HoldOutcome, current: Intercept | undefined): void {
    if (this.release(held)) held.end(outcome, current);
  }
}
