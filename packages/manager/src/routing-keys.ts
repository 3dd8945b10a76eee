import { randomBytes } from 'node:crypto';
import type { InterceptRequest, RoutingKey, SessionInfo, SignedValue } from '@detour/protocol';
import { DetourError, signRoutingValue } from '@detour/core';

/** `--signed-keys` defaults, with units. */
export const ROUTING_KEY_DEFAULTS = {
  /** How long a signed value is honoured. A leaked value works this long at most. */
  valueTtlMs: 24 * 3_600_000,
  /** How often a new signing key is made; the one it replaces is kept for `valueTtlMs` more (the overlap). */
  rotationMs: 24 * 3_600_000,
} as const;

export interface RoutingKeyRingOptions {
  valueTtlMs?: number;
  rotationMs?: number;
  now?: () => number;
}

interface RingKey {
  key: RoutingKey;
  /** Epoch ms it stopped signing (undefined: the current key). */
  retiredAt: number | undefined;
}

/**
 * The manager's routing keys (`--signed-keys`): one current key that signs
 * developers' values, and the keys it replaced, each kept until every value it
 * signed has expired (the overlap window, `valueTtlMs`), so that a rotation
 * never breaks a value already handed out. Plain data and a clock; the manager
 * calls {@link rotate} on its timer and pushes {@link keys} to agents with each
 * rule set. Keys live in memory only: a restarted manager makes new ones, and
 * daemons, which open new sessions then, get newly signed values.
 */
export class RoutingKeyRing {
  readonly valueTtlMs: number;
  readonly rotationMs: number;
  readonly #now: () => number;
  #keys: RingKey[] = [];
  /** The value last handed to each session, renewed once half its lifetime has passed. */
  readonly #issued = new Map<string, SignedValue & { keyId: string }>();
  #nextId = 0;

  constructor(options: RoutingKeyRingOptions = {}) {
    this.valueTtlMs = options.valueTtlMs ?? ROUTING_KEY_DEFAULTS.valueTtlMs;
    this.rotationMs = options.rotationMs ?? ROUTING_KEY_DEFAULTS.rotationMs;
    this.#now = options.now ?? Date.now;
    this.rotate();
  }

  /** Makes a new signing key; the old one only verifies from now on, until its last value has expired. */
  rotate(): void {
    const now = this.#now();
    for (const entry of this.#keys) entry.retiredAt ??= now;
    // A per-process prefix keeps ids of two manager runs apart; the counter keeps them short.
    const id = `${BOOT_PREFIX}${(this.#nextId++).toString(36)}`;
    this.#keys.unshift({ key: { id, secret: randomBytes(32).toString('base64url') }, retiredAt: undefined });
    this.#prune(now);
  }

  /** The keys agents verify with: the current one first, then those still in their overlap window. */
  keys(): RoutingKey[] {
    this.#prune(this.#now());
    return this.#keys.map((entry) => ({ ...entry.key }));
  }

  /** The session with its signed value: the one handed out before while more than half its life is left, else a fresh one. */
  withSignedValue(session: SessionInfo): SessionInfo {
    const now = this.#now();
    const current = this.#keys[0]!.key;
    let issued = this.#issued.get(session.id);
    if (issued === undefined || issued.expiresAt - now < this.valueTtlMs / 2 || !this.#keys.some((k) => k.key.id === issued!.keyId)) {
      // Rounded down to the second the value carries, so that `expiresAt` is exactly when agents stop honouring it.
      const expiresAt = Math.floor((now + this.valueTtlMs) / 1000) * 1000;
      issued = { value: signRoutingValue(session.headerValue, expiresAt, current), expiresAt, keyId: current.id };
      this.#issued.set(session.id, issued);
      for (const [id, old] of this.#issued) if (old.expiresAt <= now) this.#issued.delete(id);
    }
    return { ...session, signedValue: { value: issued.value, expiresAt: issued.expiresAt } };
  }

  /** Forgets what an ended session was given (its value stays valid until it expires: agents cannot be told of one value). */
  forget(sessionId: string): void {
    this.#issued.delete(sessionId);
  }

  #prune(now: number): void {
    this.#keys = this.#keys.filter((entry) => entry.retiredAt === undefined || entry.retiredAt + this.valueTtlMs > now);
  }
}

const BOOT_PREFIX = randomBytes(3).toString('base64url');

/**
 * With signed keys, a developer's own value is honoured only signed: each
 * `equals` matcher on the session's header value becomes a signed matcher. A
 * daemon may not mark any other value signed: that would let one developer
 * take every request carrying another's signed value.
 */
export function signOwnMatchers(request: InterceptRequest, session: SessionInfo, signing: boolean): InterceptRequest {
  for (const h of request.headers) {
    if (h.signed === true && (!signing || h.op !== 'equals' || h.value !== session.headerValue)) {
      throw new DetourError(
        'DETOUR_ERR_INTERCEPT_INVALID_MATCHER',
        signing ? `only your own header value (${session.headerValue}) can be a signed matcher; drop "signed" from the ${h.name} matcher` : 'this manager does not sign header values (it runs without --signed-keys); drop "signed" from the matcher',
      );
    }
  }
  if (!signing) return request;
  return { ...request, headers: request.headers.map((h) => (h.op === 'equals' && h.value === session.headerValue ? { ...h, signed: true as const } : h)) };
}
