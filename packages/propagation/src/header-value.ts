/** Visible ASCII first, then visible ASCII or spaces: safe for HTTP and gRPC metadata alike. */
const PRINTABLE = /^[\x21-\x7e][\x20-\x7e]*$/;

/**
 * Turns what a getter returned for one header into a value we are willing to
 * carry, or undefined. Node joins repeated headers as "a, b" and gRPC returns
 * arrays, so the first value wins. Non-printable values are dropped because
 * grpc-js `Metadata.set` throws on them.
 */
export function normalizeHeaderValue(raw: unknown, maxValueBytes: number): string | undefined {
  const first = Array.isArray(raw) ? (raw[0] as unknown) : raw;
  if (typeof first !== 'string') return undefined;
  const comma = first.indexOf(',');
  const value = (comma === -1 ? first : first.slice(0, comma)).trim();
  if (value.length === 0 || value.length > maxValueBytes || !PRINTABLE.test(value)) return undefined;
  return value;
}
