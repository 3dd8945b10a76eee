import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The prefix of the temporary files {@link writeFileAtomically} leaves behind if a crash interrupts it: `.<name>.`, ending `.tmp`. */
export function tempPrefixOf(path: string): string {
  return `.${basename(path)}.`;
}

/**
 * Replaces `path` with `text` so that a crash leaves the old file or the new one:
 * a temporary file in the same directory is written and fsync'ed, renamed over
 * `path` (rename(2) replaces a name atomically within a file system), and the
 * directory is fsync'ed so the rename itself survives a power cut.
 */
export async function writeFileAtomically(path: string, text: string, options: { mode?: number; rename?: (from: string, to: string) => Promise<void> } = {}): Promise<void> {
  const temp = join(dirname(path), `${tempPrefixOf(path)}${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(temp, 'wx', options.mode ?? 0o600);
  try {
    await file.writeFile(text, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await (options.rename ?? rename)(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
