import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { AuditEntrySchema } from '@detour/protocol';
import type { AuditEntry } from '@detour/protocol';
import type { Identity } from './identities.js';

export const AUDIT_DEFAULTS = {
  /** Entries `detour audit` can show; older ones stay in the file only. */
  maxEntries: 10_000,
} as const;

/** What an action records besides who and when; never a token, a session key or a header value's secret part. */
export interface AuditEvent {
  action: string;
  from: string;
  outcome?: AuditEntry['outcome'];
  details?: Record<string, unknown>;
}

/** Who did it, when the caller's identity may be unknown (a refused token). */
export type AuditActor = Pick<Identity, 'name'> & Partial<Pick<Identity, 'role'>>;

/**
 * The audit log: one JSON line per session, intercept, token change and refusal
 * (who, what, when, from where), appended to `--audit-file` (mode 0600) or written
 * to stderr. The latest entries are also kept in memory for `detour audit`; with a
 * file, they are read back from it at start-up, so a restart does not empty it.
 */
export class AuditLog {
  readonly #entries: AuditEntry[] = [];
  readonly #out: NodeJS.WritableStream | undefined;
  /** The --audit-file stream, which close() ends; stderr is not ours to end. */
  readonly #file: WriteStream | undefined;
  readonly #now: () => number;

  private constructor(out: NodeJS.WritableStream | undefined, file: WriteStream | undefined, now: () => number) {
    this.#out = out;
    this.#file = file;
    this.#now = now;
  }

  /** Entries kept for `detour audit` only (in-process managers of tests). */
  static inMemory(now: () => number = Date.now): AuditLog {
    return new AuditLog(undefined, undefined, now);
  }

  /** Audit lines to a stream the log does not own (stderr). */
  static toStream(out: NodeJS.WritableStream, now: () => number = Date.now): AuditLog {
    return new AuditLog(out, undefined, now);
  }

  /** Audit lines appended to `file`, whose latest entries are read back first. */
  static async toFile(file: string, now: () => number = Date.now): Promise<AuditLog> {
    const previous = await readFile(file, 'utf8').catch(() => '');
    const out = createWriteStream(file, { flags: 'a', mode: 0o600 });
    await once(out, 'open');
    const log = new AuditLog(out, out, now);
    for (const line of previous.split('\n')) {
      const parsed = AuditEntrySchema.safeParse(safeJson(line));
      if (parsed.success) log.#keep(parsed.data);
    }
    return log;
  }

  record(actor: AuditActor, event: AuditEvent): void {
    const entry: AuditEntry = {
      time: new Date(this.#now()).toISOString(),
      who: actor.name,
      ...(actor.role === undefined ? {} : { role: actor.role }),
      action: event.action,
      from: event.from,
      outcome: event.outcome ?? 'ok',
      ...(event.details === undefined ? {} : { details: event.details }),
    };
    this.#keep(entry);
    this.#out?.write(`${JSON.stringify(entry)}\n`);
  }

  /** Entries at or after `sinceMs` (epoch ms), oldest first. */
  since(sinceMs: number): AuditEntry[] {
    return this.#entries.filter((entry) => Date.parse(entry.time) >= sinceMs);
  }

  async close(): Promise<void> {
    const file = this.#file;
    if (file !== undefined) await new Promise<void>((resolve) => file.end(() => resolve()));
  }

  #keep(entry: AuditEntry): void {
    this.#entries.push(entry);
    if (this.#entries.length > AUDIT_DEFAULTS.maxEntries) this.#entries.splice(0, this.#entries.length - AUDIT_DEFAULTS.maxEntries);
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
