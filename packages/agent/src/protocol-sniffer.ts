import { TCHAR } from '@detour/core';

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** What the first bytes of a connection are. `undefined` from {@link sniffProtocol}: not enough bytes yet. */
export type SniffedProtocol = 'h2' | 'http1' | 'other';

/** Longest method token we wait for before deciding a connection is not HTTP/1.x (the registered ones are shorter). */
const MAX_METHOD_BYTES = 24;

/**
 * Classifies a connection by its first bytes, as few as possible:
 * - `h2`: the whole HTTP/2 connection preface (RFC 9113 §3.4);
 * - `http1`: an HTTP/1.x request line so far, i.e. a method token and a space
 *   (RFC 9112 §3), after any empty lines a client may send first (§2.2);
 * - `other`: anything else (TLS to a plaintext port, a non-HTTP protocol).
 * Returns undefined while the bytes are a prefix of more than one answer.
 */
export function sniffProtocol(bytes: Buffer): SniffedProtocol | undefined {
  const probe = Math.min(bytes.length, H2_PREFACE.length);
  if (bytes.subarray(0, probe).equals(H2_PREFACE.subarray(0, probe))) {
    if (bytes.length >= H2_PREFACE.length) return 'h2';
    // "PRI " is also a method token: wait for the preface to confirm or diverge.
    return undefined;
  }
  let i = 0;
  while (i + 1 < bytes.length && bytes[i] === 0x0d && bytes[i + 1] === 0x0a) i += 2;
  if (i + 1 === bytes.length && bytes[i] === 0x0d) return undefined;
  const methodStart = i;
  while (i < bytes.length && TCHAR[bytes[i]!] === 1) {
    if (i - methodStart >= MAX_METHOD_BYTES) return 'other';
    i++;
  }
  if (i === bytes.length) return undefined;
  return i > methodStart && bytes[i] === 0x20 ? 'http1' : 'other';
}
