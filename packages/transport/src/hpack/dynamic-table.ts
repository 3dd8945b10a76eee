/** Bytes an entry counts for in the dynamic table: name + value + 32 (RFC 7541 §4.1). */
export const ENTRY_OVERHEAD_BYTES = 32;

/**
 * The decoder's dynamic table (RFC 7541 §2.3.2, §4): newest entry first, a ring
 * of names and values so that adding and evicting move no other entry.
 */
export class DynamicTable {
  #names: string[] = new Array<string>(16).fill('');
  #values: string[] = new Array<string>(16).fill('');
  /** slot of the newest entry */
  #head = 0;
  #count = 0;
  #bytes = 0;
  #capacityBytes: number;

  constructor(capacityBytes: number) {
    this.#capacityBytes = capacityBytes;
  }

  get length(): number {
    return this.#count;
  }

  /** the sum of the entries' sizes */
  get bytes(): number {
    return this.#bytes;
  }

  /** the maximum size the encoder last set (RFC 7541 §4.2) */
  get capacityBytes(): number {
    return this.#capacityBytes;
  }

  set capacityBytes(bytes: number) {
    this.#capacityBytes = bytes;
    this.#evictTo(bytes);
  }

  /** the name of entry `i`, 0 being the newest; `i` must be below `length` */
  name(i: number): string {
    return this.#names[(this.#head - i) & (this.#names.length - 1)]!;
  }

  value(i: number): string {
    return this.#values[(this.#head - i) & (this.#values.length - 1)]!;
  }

  /** Adds an entry, evicting the oldest ones first; one larger than the table empties it (RFC 7541 §4.4). */
  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.#capacityBytes) {
      this.#evictTo(0);
      return;
    }
    this.#evictTo(this.#capacityBytes - size);
    if (this.#count === this.#names.length) this.#grow();
    this.#head = (this.#head + 1) & (this.#names.length - 1);
    this.#names[this.#head] = name;
    this.#values[this.#head] = value;
    this.#count++;
    this.#bytes += size;
  }

  #evictTo(bytes: number): void {
    const mask = this.#names.length - 1;
    while (this.#bytes > bytes) {
      const oldest = (this.#head - this.#count + 1) & mask;
      this.#bytes -= this.#names[oldest]!.length + this.#values[oldest]!.length + ENTRY_OVERHEAD_BYTES;
      this.#names[oldest] = '';
      this.#values[oldest] = '';
      this.#count--;
    }
  }

  /** Doubles the ring (its length stays a power of two for the masks), oldest entry at slot 0. */
  #grow(): void {
    const names = new Array<string>(this.#names.length * 2).fill('');
    const values = new Array<string>(this.#values.length * 2).fill('');
    for (let i = 0; i < this.#count; i++) {
      names[this.#count - 1 - i] = this.name(i);
      values[this.#count - 1 - i] = this.value(i);
    }
    this.#names = names;
    this.#values = values;
    this.#head = this.#count - 1;
  }
}
