import { Duplex } from 'node:stream';

/**
 * One end of an in-process byte pipe: what one end writes, the other reads,
 * with backpressure (a write completes once the reader wants more) and a
 * half-close (`end()` is the reader's EOF). Node 20 has no `stream.duplexPair`;
 * node:http2 accepts any Duplex as a session's socket.
 */
class MemoryDuplex extends Duplex {
  peer!: MemoryDuplex;
  #pendingWrite: (() => void) | undefined;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.peer.push(chunk)) callback();
    else this.peer.#pendingWrite = callback;
  }

  override _read(): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    pending?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.peer.destroy();
    callback(error);
  }
}

/** Two connected ends, as `socketpair(2)` would give. */
export function memoryDuplexPair(): [Duplex, Duplex] {
  const a = new MemoryDuplex({ allowHalfOpen: true });
  const b = new MemoryDuplex({ allowHalfOpen: true });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
