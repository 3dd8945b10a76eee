/**
 * Exponential backoff with full jitter and a cap (as grpc-js `backoff-timeout.ts`):
 * many daemons reconnecting to a restarted manager must not arrive in lock-step.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  random?: () => number;
}

export class Backoff {
  readonly #options: Required<BackoffOptions>;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#options = { random: Math.random, ...options };
  }

  /** The delay before the next attempt; grows until `reset()`. */
  nextDelayMs(): number {
    const { initialMs, maxMs, multiplier, random } = this.#options;
    const ceiling = Math.min(maxMs, initialMs * multiplier ** this.#attempt);
    this.#attempt += 1;
    // Half fixed, half jittered: never zero, so a flapping peer is not hammered.
    return Math.round(ceiling / 2 + random() * (ceiling / 2));
  }

  reset(): void {
    this.#attempt = 0;
  }
}
