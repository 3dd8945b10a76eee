import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { IdentityInfo, TokenCreate } from '@detour/protocol';
import { DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { writeFileAtomically } from '../atomic-write.js';
import { formatAuthFile, parseAuthFile } from './auth-file.js';
import type { AuthConfig } from './auth-file.js';
import { IdentityBook, newToken, tokenHash } from './identities.js';
import type { IdentityEntry } from './identities.js';
import type { Role } from '@detour/protocol';

export const AUTH_SOURCE_DEFAULTS = {
  /** Editors write a file in several steps (truncate, write, rename): one reload after the last of them. */
  reloadDebounceMs: 200,
} as const;

/** Where the identities come from: one shared token, or an auth file. */
export interface AuthFileOptions {
  authFile: string;
  logger: Logger;
  reloadDebounceMs?: number;
  now?: () => number;
}

/**
 * The manager's current {@link IdentityBook}. With an auth file it is re-read on
 * `reload()` (the manager calls it on SIGHUP) and when the file changes; a file
 * with errors keeps the previous book and logs every problem. `create` and
 * `revoke` rewrite the file atomically, so the file stays the one source of truth.
 */
export class AuthSource {
  book: IdentityBook;
  readonly path: string | undefined;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  readonly #listeners: ((book: IdentityBook) => void)[] = [];
  #config: AuthConfig | undefined;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #debounceMs: number;
  /** Serialises reloads and writes: a write never races a reload of the file it is replacing. */
  #queue: Promise<unknown> = Promise.resolve();
  /** The text last written or read, so our own write's change event reloads nothing new. */
  #lastText = '';
  /** Credentials of parts running in this process (the embedded preview gateway): in every book, in no file. */
  readonly #processEntries: IdentityEntry[] = [];

  private constructor(book: IdentityBook, path: string | undefined, config: AuthConfig | undefined, logger: Logger | undefined, debounceMs: number, now: () => number) {
    this.book = book;
    this.path = path;
    this.#config = config;
    this.#logger = logger;
    this.#debounceMs = debounceMs;
    this.#now = now;
  }

  /** Single-token mode: one shared credential that may do everything (the demo, trying detour out). */
  static singleToken(token: string): AuthSource {
    return new AuthSource(IdentityBook.singleToken(token), undefined, undefined, undefined, 0, Date.now);
  }

  /**
   * The auth file read and validated (a file with errors refuses the start-up,
   * listing every problem). A missing file is created with one `admin` identity,
   * whose token goes to `<file>.admin-token` (mode 0600): `createdAdminTokenFile`
   * names that file.
   */
  static async open(options: AuthFileOptions): Promise<{ source: AuthSource; createdAdminTokenFile?: string }> {
    const { authFile, logger } = options;
    const now = options.now ?? Date.now;
    const debounceMs = options.reloadDebounceMs ?? AUTH_SOURCE_DEFAULTS.reloadDebounceMs;
    let text: string;
    let createdAdminTokenFile: string | undefined;
    try {
      text = await readFile(authFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new DetourError('DETOUR_ERR_AUTH_FILE_INVALID', `cannot read auth file ${authFile}: ${(err as Error).message}`, { cause: err });
      }
      const token = newToken();
      createdAdminTokenFile = `${authFile}.admin-token`;
      await mkdir(dirname(authFile), { recursive: true });
      await writeFile(createdAdminTokenFile, `${token}\n`, { mode: 0o600, flag: 'wx' });
      text = formatAuthFile({ roles: {}, identities: [{ name: 'admin', role: 'admin', tokenSha256: tokenHash(token) }] }, authFile);
      await writeFileAtomically(authFile, text);
    }
    const config = parseAuthFile(text, authFile);
    const source = new AuthSource(IdentityBook.fromConfig(config), authFile, config, logger, debounceMs, now);
    source.#lastText = text;
    source.#watch();
    return { source, ...(createdAdminTokenFile === undefined ? {} : { createdAdminTokenFile }) };
  }

  /**
   * A token for a part of this very process that calls the API like a remote one
   * (`detour manager --preview-listen`'s gateway): a fresh identity `manager.NAME`
   * with `role`, kept through every reload, written nowhere, gone with the process.
   */
  processToken(name: string, role: Role): string {
    const token = newToken();
    this.#processEntries.push({ identity: { name: `manager.${name}`, role, shared: false, policy: {}, inProcess: true }, hash: Buffer.from(tokenHash(token), 'hex') });
    this.book = this.book.with(this.#processEntries.slice(-1));
    return token;
  }

  /** Called with the new book after every successful reload or write. */
  onChange(listener: (book: IdentityBook) => void): void {
    this.#listeners.push(listener);
  }

  /** Re-reads the auth file; on errors the previous identities stay and the problems are logged. Resolves whether it took the new file. */
  reload(): Promise<boolean> {
    return this.#serially(async () => {
      if (this.path === undefined) return false;
      let text: string;
      try {
        text = await readFile(this.path, 'utf8');
      } catch (err) {
        this.#logger?.error({ file: this.path, err: (err as Error).message }, 'auth file reload failed; the previous identities stay in force');
        return false;
      }
      if (text === this.#lastText) return false;
      try {
        this.#take(parseAuthFile(text, this.path), text);
      } catch (err) {
        if (!isDetourError(err)) throw err;
        this.#logger?.error({ file: this.path, problems: err.details?.problems }, 'auth file reload failed; the previous identities stay in force');
        return false;
      }
      this.#logger?.info({ file: this.path, identities: this.#config?.identities.length }, 'auth file reloaded');
      return true;
    });
  }

  /** Adds an identity with a fresh token, returned once and stored nowhere but as its hash. */
  create(request: TokenCreate): Promise<{ identity: IdentityInfo; token: string }> {
    return this.#serially(async () => {
      const config = await this.#current();
      if (config.identities.some((identity) => identity.name === request.name)) {
        throw new DetourError('DETOUR_ERR_TOKEN_NAME_TAKEN', `an identity named ${request.name} exists; revoke it first (\`detour token revoke ${request.name}\`)`);
      }
      const token = newToken();
      const entry = {
        name: request.name,
        role: request.role,
        tokenSha256: tokenHash(token),
        ...(request.expiresInMs === undefined ? {} : { expiresAt: new Date(this.#now() + request.expiresInMs).toISOString() }),
        ...(request.services === undefined ? {} : { policy: { services: request.services } }),
      };
      await this.#write({ ...config, identities: [...config.identities, entry] });
      const identity = this.book.list(this.#now()).find((info) => info.name === request.name)!;
      return { identity, token };
    });
  }

  /** Removes an identity: its token stops working at once, and the manager ends its sessions. */
  revoke(name: string): Promise<void> {
    return this.#serially(async () => {
      const config = await this.#current();
      if (!config.identities.some((identity) => identity.name === name)) {
        throw new DetourError('DETOUR_ERR_TOKEN_NOT_FOUND', `no identity named ${name}; \`detour token list\` shows them`);
      }
      await this.#write({ ...config, identities: config.identities.filter((identity) => identity.name !== name) });
    });
  }

  close(): void {
    clearTimeout(this.#debounce);
    this.#watcher?.close();
  }

  /**
   * The file as it is now, taken first if it changed: a write starts from what is on
   * disk, so it never undoes an edit the watch has not reloaded yet. A file with
   * errors is not written over.
   */
  async #current(): Promise<AuthConfig> {
    if (this.#config === undefined || this.path === undefined) {
      throw new DetourError('DETOUR_ERR_TOKEN_NO_AUTH_FILE', 'this manager runs in single-token mode (--token-file); start it with --auth-file FILE to have identities and manage their tokens');
    }
    const text = await readFile(this.path, 'utf8').catch((err: unknown) => {
      throw new DetourError('DETOUR_ERR_TOKEN_WRITE_FAILED', `cannot read auth file ${this.path!} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); nothing changed`, { cause: err });
    });
    if (text === this.#lastText) return this.#config;
    try {
      this.#take(parseAuthFile(text, this.path), text);
    } catch (err) {
      if (!isDetourError(err)) throw err;
      throw new DetourError('DETOUR_ERR_TOKEN_WRITE_FAILED', `auth file ${this.path} has errors (the manager log lists them); fix it first, nothing changed`, { cause: err });
    }
    return this.#config;
  }

  async #write(config: AuthConfig): Promise<void> {
    const text = formatAuthFile(config, this.path!);
    try {
      await writeFileAtomically(this.path!, text);
    } catch (err) {
      throw new DetourError('DETOUR_ERR_TOKEN_WRITE_FAILED', `cannot write auth file ${this.path!} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); nothing changed. A mounted Secret is read-only: change the chart's values instead`, { cause: err });
    }
    this.#take(config, text);
  }

  #take(config: AuthConfig, text: string): void {
    this.#config = config;
    this.#lastText = text;
    this.book = IdentityBook.fromConfig(config).with(this.#processEntries);
    for (const listener of this.#listeners) listener(this.book);
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Watches the file's directory, not the file: an editor or `kubectl` replaces
   * the file by renaming another over it (a Secret volume swaps a symlink), which
   * ends a watch on the old inode.
   */
  #watch(): void {
    const name = basename(this.path!);
    this.#watcher = watch(dirname(this.path!), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload(), this.#debounceMs);
      this.#debounce.unref();
    });
    this.#watcher.on('error', (err) => this.#logger?.warn({ file: this.path, err: err.message }, 'cannot watch the auth file; reload it with SIGHUP'));
  }
}
