import { CAPTURE_BODY_LIMIT_BYTES } from '@detour/dashboard-ui/model';
import type { CapturedBody } from '@detour/dashboard-ui/model';

/**
 * Keeps a copy of the first `limitBytes` of a body that is streamed past it
 * and counts the rest: the stream itself is never held or slowed.
 */
export class BodyPrefix {
  readonly #limitBytes: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #total = 0;

  constructor(limitBytes = CAPTURE_BODY_LIMIT_BYTES) {
    this.#limitBytes = limitBytes;
  }

  /** Sees `buf[start, end)`; copies what still fits (the source buffer belongs to the stream). */
  add(buf: Buffer, start = 0, end = buf.length): void {
    this.#total += end - start;
    const room = this.#limitBytes - this.#kept;
    if (room <= 0) return;
    const take = Math.min(room, end - start);
    this.#chunks.push(Buffer.from(buf.subarray(start, start + take)));
    this.#kept += take;
  }

  get keptBytes(): number {
    return this.#kept;
  }

  toCaptured(): CapturedBody {
    return { base64: Buffer.concat(this.#chunks).toString('base64'), bytes: this.#total, truncated: this.#total > this.#kept };
  }
}
