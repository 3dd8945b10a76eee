import { timingSafeEqual } from 'node:crypto';
import { DetourError } from '@detour/core';

/** Checks an `Authorization: Bearer` value against the manager token in constant time. */
export function checkBearer(authorization: string | undefined, token: Buffer): void {
  if (authorization === undefined || authorization === '') {
    throw new DetourError('DETOUR_ERR_AUTH_MISSING_TOKEN', 'this endpoint requires "Authorization: Bearer <token>" (see the manager --token-file)');
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const given = Buffer.from(match?.[1] ?? '');
  if (given.length !== token.length || !timingSafeEqual(given, token)) {
    throw new DetourError('DETOUR_ERR_AUTH_BAD_TOKEN', 'the bearer token is wrong');
  }
}
