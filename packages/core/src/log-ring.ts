/** Bounds of a {@link LogRing}, with units: whichever is reached first drops the oldest lines. */
export const LOG_RING_DEFAULTS = {
  maxLines: 2_000,
  maxBytes: 1024 * 1024,
} as const;

/**
 * The most recent log lines of a process, in memory, for `detour gather-logs`.
 * It is a pino destination (anything with `write(line)`): pino hands it each
 * line after redaction, so it holds nothing the stderr output does not. Bounded
 * in lines and bytes; a single line larger than `maxBytes` is not kept.
 */
export class LogRing {
  readonly maxLines: number;
  readonly maxBytes: number;
  // A queue as an array and a head index: dropping the oldest line is O(1), and
  // the array is compacted once the dropped prefix is as long as the bound.
  #lines: string[] = [];
  #head = 0;
  #bytes = 0;

  constructor(options: { maxLines?: number; maxBytes?: number } = {}) {
    this.maxLines = options.maxLines ?? LOG_RING_DEFAULTS.maxLines;
    this.maxBytes = options.maxBytes ?? LOG_RING_DEFAULTS.maxBytes;
  }

  /** pino writes one line per call, newline included. */
  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (bytes > this.maxBytes) return;
    this.#lines.push(line);
    this.#bytes += bytes;
    while (this.#lines.length - this.#head > this.maxLines || this.#bytes > this.maxBytes) {
      this.#bytes -= Buffer.byteLength(this.#lines[this.#head]!);
      this.#head += 1;
    }
    if (this.#head >= this.maxLines) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Number of lines held now. */
  get size(): number {
    return this.#lines.length - this.#head;
  }

  /** The lines held, oldest first, as NDJSON text (at most `maxBytes`). */
  text(): string {
    return this.#lines.slice(this.#head).join('');
  }
}
