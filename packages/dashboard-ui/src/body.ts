import type { CapturedBody, Fields } from './model.js';

/** Decodes base64 with what both browsers and Node offer (atob), no Buffer. */
export function decodeBase64(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function fieldValue(fields: Fields | undefined, name: string): string | undefined {
  return fields?.find(([n]) => n === name)?.[1];
}

/**
 * Whether bytes read as text: valid UTF-8 without control characters other
 * than tab, CR and LF. A cut multi-byte character at the end of a truncated
 * prefix does not count against it.
 */
export function textOf(bytes: Uint8Array, truncated: boolean): string | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(truncated ? trimPartialUtf8(bytes) : bytes);
  } catch {
    return undefined;
  }
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text) ? undefined : text;
}

function trimPartialUtf8(bytes: Uint8Array): Uint8Array {
  const end = bytes.length;
  // Back up over at most 3 continuation bytes to the lead byte of a character that may be cut.
  for (let k = 1; k <= 4 && end - k >= 0; k++) {
    const b = bytes[end - k]!;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > k ? bytes.subarray(0, end - k) : bytes;
  }
  return bytes;
}

/** A classic hex dump: offset, 16 bytes in hex, the printable ones as ASCII. */
export function hexDump(bytes: Uint8Array, maxBytes = 4096): string {
  const lines: string[] = [];
  const end = Math.min(bytes.length, maxBytes);
  for (let offset = 0; offset < end; offset += 16) {
    const row = bytes.subarray(offset, Math.min(offset + 16, end));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  if (bytes.length > end) lines.push(`… ${bytes.length - end} more bytes`);
  return lines.join('\n');
}

export type BodyView = { kind: 'empty' } | { kind: 'json'; text: string } | { kind: 'text'; text: string } | { kind: 'binary'; text: string };

/** How the inspector shows a body: pretty JSON when it parses as JSON, text, or a hex dump. */
export function viewBody(body: CapturedBody | undefined, contentType: string | undefined): BodyView {
  if (body === undefined || body.bytes === 0) return { kind: 'empty' };
  const bytes = decodeBase64(body.base64);
  const text = textOf(bytes, body.truncated);
  if (text === undefined) return { kind: 'binary', text: hexDump(bytes) };
  const looksJson = /json/i.test(contentType ?? '') || /^\s*[[{]/.test(text);
  if (looksJson && !body.truncated) {
    try {
      return { kind: 'json', text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch {
      // Not JSON after all: shown as text.
    }
  }
  return { kind: 'text', text };
}

/** `1.2 KiB`, `64 KiB`, `3.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
