/**
 * Byte classes of the HTTP/1.1 grammar as 256-entry lookup tables, so that the
 * parsers test one byte with one array read.
 */

function table(accept: (byte: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = accept(b) ? 1 : 0;
  return t;
}

const TCHAR_PUNCTUATION = "!#$%&'*+-.^_`|~";

/** RFC 9110 §5.6.2 `tchar`: the bytes of a method, field name or coding name. */
export const TCHAR = table(
  (b) =>
    (b >= 0x30 && b <= 0x39) ||
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    TCHAR_PUNCTUATION.includes(String.fromCharCode(b)),
);

/**
 * RFC 9110 §5.5 field-value bytes: VCHAR, obs-text, SP and HTAB. Every other
 * control byte (NUL, CR, LF, DEL, …) is refused: a lone CR or LF inside a value
 * is how header injection and response splitting start.
 */
export const FIELD_VALUE = table((b) => b === 0x09 || (b >= 0x20 && b !== 0x7f));

/** RFC 9112 §3.2 request-target bytes: visible ASCII only (no SP, CTL or obs-text). */
export const TARGET = table((b) => b > 0x20 && b < 0x7f);

/**
 * RFC 3986 §3.2 authority bytes: unreserved, pct-encoded, sub-delims, ":" and
 * the IP-literal brackets. "@" is left out: userinfo is deprecated in http(s)
 * URIs and a recipient SHOULD treat it as an error (RFC 9110 §4.2.4), and
 * "h@evil@host" is a classic way to make two parsers see different hosts.
 */
export const AUTHORITY = table(
  (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || "-._~%!$&'()*+,;=:[]".includes(String.fromCharCode(b)),
);

/** RFC 5234 ALPHA. */
export const ALPHA = table((b) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a));

/** ASCII lower-casing; other bytes map to themselves (unlike `b | 0x20`, which turns `^` into `~`). */
export const LOWER = Uint8Array.from({ length: 256 }, (_, b) => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b));

/** HEXDIG value, or -1. */
export const HEX = Int8Array.from({ length: 256 }, (_, b) => {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
});

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
