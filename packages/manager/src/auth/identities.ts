import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IdentityInfo, Policy, Role } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { AuthConfig } from './auth-file.js';

/** Who a valid credential belongs to. */
export interface Identity {
  /** The owner name everything this identity does is shown under; in single-token mode, the `--name` a daemon sends. */
  name: string;
  role: Role;
  /** The single-token mode's one credential, shared by agents and developers: it may do everything, as before identities. */
  shared: boolean;
  /** Epoch ms; absent: never. */
  expiresAt?: number;
  /** The role's policy with the identity's own fields over it. */
  policy: Policy;
  /** A part of the manager's own process (AuthSource.processToken): not listed, not revocable. */
  inProcess?: true;
}

/** The name the single token's identity goes by where no `--name` applies (agents, the audit log). */
export const SHARED_IDENTITY_NAME = 'shared-token';

/** SHA-256 hex of a token: what the auth file stores. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A fresh token: 32 random bytes, so a hash without salt or stretching is safe to store. */
export function newToken(): string {
  return `dtr_${randomBytes(32).toString('base64url')}`;
}

/**
 * Who holds which credential, as plain data: built from an auth file (or the one
 * shared token) and replaced whole on a reload.
 */
/** One credential: who it is, and the SHA-256 of its token. */
export interface IdentityEntry {
  identity: Identity;
  hash: Buffer;
}

export class IdentityBook {
  readonly mode: 'identities' | 'single-token';
  readonly #entries: IdentityEntry[];

  private constructor(mode: IdentityBook['mode'], entries: IdentityEntry[]) {
    this.mode = mode;
    this.#entries = entries;
  }

  /** The same book with credentials of this process's own parts added (see AuthSource.processToken). */
  with(extra: readonly IdentityEntry[]): IdentityBook {
    return extra.length === 0 ? this : new IdentityBook(this.mode, [...this.#entries, ...extra]);
  }

  /** Single-token mode: one credential that may do everything (the demo, trying detour out). */
  static singleToken(token: string): IdentityBook {
    return new IdentityBook('single-token', [{ identity: { name: SHARED_IDENTITY_NAME, role: 'admin', shared: true, policy: {} }, hash: Buffer.from(tokenHash(token), 'hex') }]);
  }

  static fromConfig(config: AuthConfig): IdentityBook {
    return new IdentityBook(
      'identities',
      config.identities.map((entry) => ({
        identity: {
          name: entry.name,
          role: entry.role,
          shared: false,
          ...(entry.expiresAt === undefined ? {} : { expiresAt: Date.parse(entry.expiresAt) }),
          policy: { ...config.roles[entry.role], ...entry.policy },
        },
        hash: Buffer.from(entry.tokenSha256, 'hex'),
      })),
    );
  }

  /**
   * The identity a bearer token belongs to. Every entry is compared, in constant
   * time, whether or not an earlier one matched. A wrong, revoked or expired token
   * all get the same answer, which names no identity.
   */
  authenticate(token: string, now: number): Identity {
    const given = Buffer.from(tokenHash(token), 'hex');
    let found: Identity | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(given, entry.hash)) found = entry.identity;
    }
    if (found === undefined || !isValid(found, now)) {
      throw new DetourError('DETOUR_ERR_AUTH_BAD_TOKEN', 'the bearer token is wrong, revoked or expired; ask an admin for a new one (`detour token create`)');
    }
    return found;
  }

  /** Whether `name` still names a valid identity (a reload or an expiry may have ended it). */
  holds(name: string, now: number): boolean {
    return this.#entries.some((entry) => entry.identity.name === name && isValid(entry.identity, now));
  }

  list(now: number): IdentityInfo[] {
    return this.#entries.filter(({ identity }) => identity.inProcess !== true).map(({ identity }) => ({
      name: identity.name,
      role: identity.role,
      ...(identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt }),
      policy: identity.policy,
      expired: !isValid(identity, now),
    }));
  }
}

function isValid(identity: Identity, now: number): boolean {
  return identity.expiresAt === undefined || identity.expiresAt > now;
}
