import { randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DetourError } from './errors.js';

/** Reads a bearer token; the file holds it on its first line. */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `cannot read token file ${path}: ${(cause as Error).message}`, { cause });
  }
  const token = text.split('\n')[0]?.trim() ?? '';
  if (token.length < 16) {
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `token file ${path} holds no token of at least 16 characters`);
  }
  return token;
}

/** Reads the token file, or creates it (mode 0600) with a fresh random token when it does not exist. */
export async function readOrCreateTokenFile(path: string): Promise<{ token: string; created: boolean }> {
  const token = randomBytes(24).toString('base64url');
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `cannot create token file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { token: await readTokenFile(path), created: false };
}
