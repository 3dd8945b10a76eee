import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { InterceptSchema, StoredPreviewSchema } from '@detour/protocol';
import { DetourError } from '@detour/core';
import { tempPrefixOf, writeFileAtomically } from '../atomic-write.js';
import type { InterceptStore, StoredIntercept } from './intercept-store.js';

/** Names the layout, so that a later one can be told apart and migrated rather than misread. */
const FORMAT = 'detour-state/1';

const StateFileSchema = z.strictObject({
  format: z.literal(FORMAT),
  intercepts: z.array(z.strictObject({ intercept: InterceptSchema, clientHash: z.string().regex(/^[0-9a-f]{64}$/), previews: z.array(StoredPreviewSchema).optional() })),
});

export interface FileStoreOptions {
  /** The rename step; tests replace it to play a crash between writing the new file and putting it in place. */
  rename?: (from: string, to: string) => Promise<void>;
}

/**
 * `detour manager --state-file F`: the intercepts in one JSON file, replaced
 * atomically on every change ({@link writeFileAtomically}). A crash at any point
 * leaves either the old file or the new one, never a mix.
 */
export class FileInterceptStore implements InterceptStore {
  readonly path: string;
  readonly description: string;
  readonly #rename: (from: string, to: string) => Promise<void>;
  readonly #tempPrefix: string;

  constructor(path: string, options: FileStoreOptions = {}) {
    this.path = path;
    this.description = `state file ${path}`;
    this.#rename = options.rename ?? rename;
    this.#tempPrefix = tempPrefixOf(path);
  }

  async load(): Promise<StoredIntercept[]> {
    await mkdir(dirname(this.path), { recursive: true });
    await this.#removeLeftovers();
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new DetourError('DETOUR_ERR_STATE_LOAD_FAILED', `cannot read ${this.description}: ${(err as Error).message}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw this.#corrupt((cause as Error).message, cause);
    }
    const parsed = StateFileSchema.safeParse(value);
    if (!parsed.success) {
      const problem = parsed.error.issues[0];
      throw this.#corrupt(`${problem?.path.join('.') || '(file)'}: ${problem?.message ?? 'invalid'}`, parsed.error);
    }
    return parsed.data.intercepts;
  }

  async save(intercepts: readonly StoredIntercept[]): Promise<void> {
    const text = `${JSON.stringify({ format: FORMAT, intercepts }, null, 2)}\n`;
    await writeFileAtomically(this.path, text, { mode: 0o600, rename: this.#rename });
  }

  async close(): Promise<void> {}

  #corrupt(problem: string, cause: unknown): DetourError {
    return new DetourError('DETOUR_ERR_STATE_FILE_CORRUPT', `${this.description} is not valid detour state (${problem}); repair it, or move it away to start with no intercepts`, {
      cause,
      details: { file: this.path },
    });
  }

  /** Temporary files of a save a crash interrupted: they were never renamed into place, so they hold nothing the file lacks. */
  async #removeLeftovers(): Promise<void> {
    const names = await readdir(dirname(this.path));
    const leftovers = names.filter((name) => name.startsWith(this.#tempPrefix) && name.endsWith('.tmp'));
    await Promise.all(leftovers.map((name) => unlink(join(dirname(this.path), name)).catch(() => undefined)));
  }
}
