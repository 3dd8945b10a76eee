import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/** How much of a page is held back while looking for `<body>`; past it the bar goes first. */
export const BANNER_SCAN_BYTES = 64 * 1024;
const BODY_TAG = /<body\b[^>]*>/i;

/**
 * Adds the banner right after the `<body …>` tag of an HTML answer, holding
 * back only the bytes before that tag (at most {@link BANNER_SCAN_BYTES}); the
 * rest streams through untouched. A page without a body tag in its first
 * BANNER_SCAN_BYTES gets the bar at its start (browsers place it in the body).
 */
export class BannerInjector extends Transform {
  readonly #banner: Buffer;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #done = false;

  constructor(banner: string) {
    super();
    this.#banner = Buffer.from(banner);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#done) return callback(null, chunk);
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    const text = Buffer.concat(this.#held).toString('latin1');
    const tag = BODY_TAG.exec(text);
    if (tag !== null) return callback(null, this.#inject(tag.index + tag[0].length));
    if (this.#heldBytes >= BANNER_SCAN_BYTES) return callback(null, this.#inject(0));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#done ? undefined : this.#inject(0));
  }

  /** The held bytes with the banner at `at` (a latin1 offset is a byte offset). */
  #inject(at: number): Buffer {
    const held = Buffer.concat(this.#held);
    this.#held = [];
    this.#done = true;
    return Buffer.concat([held.subarray(0, at), this.#banner, held.subarray(at)]);
  }
}
