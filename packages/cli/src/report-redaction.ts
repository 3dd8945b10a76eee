/**
 * What `detour gather-logs` takes out of the JSON it puts in a bug report
 * archive (`detour status`, `detour list`): plain data in, plain data out.
 *
 * Removed: tokens, session keys, authorization and cookie values, and header
 * values — the developer's own header value (and the client id it is derived
 * from) and every intercept's header matcher values, since a value is what
 * routes someone's requests to their laptop. Header names, path matchers and everything else stay, they are what
 * a bug report is read for.
 */

export const REDACTED = '[redacted]';

/**
 * Keys whose value is a secret wherever they appear (compared in lower case).
 * `clientId` too: a developer's header value is their name and a hash of it.
 */
const SECRET_KEYS = new Set(['token', 'key', 'authorization', 'cookie', 'set-cookie', 'detour-session-key', 'headervalue', 'clientid', 'signedvalue']);

/**
 * A redacted value at least this long is also cut out of the archive's log text
 * wherever it occurs (a log line quoting an error that names a header value).
 * Shorter ones (`x-env=1`) would erase unrelated text and identify nobody; a
 * developer's own header value (`name-hash6`) is always longer.
 */
export const SCRUB_MIN_CHARS = 8;

export interface Redacted<T> {
  value: T;
  /** Every redacted string of at least {@link SCRUB_MIN_CHARS}, to scrub from free text with {@link scrubText}. */
  secrets: Set<string>;
}

/**
 * Redacts a JSON value: secret keys anywhere; `value` of a `header` object and of
 * each element of a `headers` array (matchers); every value of a `headers` object.
 */
export function redactReport<T>(value: T, secrets: Set<string> = new Set()): Redacted<T> {
  const censor = (secret: unknown): unknown => {
    if (typeof secret === 'string' && secret.length >= SCRUB_MIN_CHARS) secrets.add(secret);
    // A signed value (`--signed-keys`) is an object: its value is what must not reach a log text.
    if (typeof secret === 'object' && secret !== null && 'value' in secret && typeof secret.value === 'string') secrets.add(secret.value);
    return secret === undefined || secret === null ? secret : REDACTED;
  };
  const headerField = (field: unknown): unknown =>
    typeof field === 'object' && field !== null && !Array.isArray(field) && 'value' in field ? { ...(walk(field) as Record<string, unknown>), value: censor(field.value) } : walk(field);
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node !== 'object' || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node)) {
      if (SECRET_KEYS.has(key.toLowerCase())) out[key] = censor(child);
      else if (key === 'header') out[key] = headerField(child);
      else if (key === 'headers' && Array.isArray(child)) out[key] = child.map(headerField);
      else if (key === 'headers' && typeof child === 'object' && child !== null) out[key] = Object.fromEntries(Object.entries(child).map(([name, v]) => [name, censor(v)]));
      else out[key] = walk(child);
    }
    return out;
  };
  return { value: walk(value) as T, secrets };
}

/** Cuts every secret out of free text (logs), longest first so a secret containing another goes whole. */
export function scrubText(text: string, secrets: Iterable<string>): string {
  let scrubbed = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) scrubbed = scrubbed.replaceAll(secret, REDACTED);
  return scrubbed;
}
