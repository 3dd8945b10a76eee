import { RELAY_OWNED_HEADERS } from '@detour/protocol';

/**
 * The checks node:http2 (nghttp2) made on a request's fields before the agent
 * saw them, now that the relay reads HEADERS itself (RFC 9113 §8.2, §8.3): a
 * request that fails one is malformed and its stream is reset with
 * PROTOCOL_ERROR, as nghttp2 does, rather than passed on to an app that may
 * read it differently.
 */

/** What the relay needs of a well-formed request. */
export interface RequestSummary {
  readonly method: string;
  /** `:path` ('' for CONNECT, which has none). */
  readonly path: string;
  /** `content-length`, when the request declared one. */
  readonly contentLength: number | undefined;
  /** `content-type` is gRPC's (`application/grpc`, `application/grpc+proto`, …): local errors are then gRPC statuses. */
  readonly grpc: boolean;
  /** The request carries a field only the relay may set (the app must not see it): it must be re-encoded without. */
  readonly carriesRelayOwned: boolean;
}

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);
/** Fields HTTP/2 forbids (RFC 9113 §8.2.2): nghttp2 rejects the request. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const RELAY_OWNED: ReadonlySet<string> = new Set(RELAY_OWNED_HEADERS);
/** RFC 9110 §5.6.2 token characters, lower case (HTTP/2 field names are lower case; RFC 9113 §8.2.1). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** NUL, CR and LF are never valid in a value (RFC 9113 §8.2.1). */
const BAD_VALUE = /[\0\r\n]/;
const DIGITS = /^[0-9]{1,15}$/;
const GRPC_TYPE = /^application\/grpc($|[+;])/i;

/** Reads and checks a request head; returns why it is malformed as a string. */
export function summarizeRequest(fields: readonly string[]): RequestSummary | string {
  let method: string | undefined;
  let path: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let contentLength: number | undefined;
  let grpc = false;
  let carriesRelayOwned = false;
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (BAD_VALUE.test(value)) return `field ${name} has a NUL, CR or LF in its value`;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header ${name} after a regular field`;
      if (!REQUEST_PSEUDO.has(name)) return `unknown pseudo-header ${name}`;
      if (name === ':method') {
        if (method !== undefined) return 'two :method fields';
        method = value;
      } else if (name === ':path') {
        if (path !== undefined) return 'two :path fields';
        path = value;
      } else if (name === ':scheme') {
        if (scheme !== undefined) return 'two :scheme fields';
        scheme = value;
      } else {
        if (authority !== undefined) return 'two :authority fields';
        authority = value;
      }
      continue;
    }
    regular = true;
    if (!FIELD_NAME.test(name)) return `field name ${JSON.stringify(name)} is not a lower-case token`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    if (name === 'te' && value.toLowerCase() !== 'trailers') return 'te other than "trailers"';
    if (name === 'content-length') {
      if (!DIGITS.test(value) || (contentLength !== undefined && contentLength !== Number(value))) return 'content-length is not one decimal number';
      contentLength = Number(value);
    } else if (name === 'content-type') grpc = GRPC_TYPE.test(value);
    else if (RELAY_OWNED.has(name)) carriesRelayOwned = true;
  }
  if (method === undefined || method === '') return 'no :method';
  if (method === 'CONNECT') {
    if (authority === undefined || path !== undefined || scheme !== undefined) return 'CONNECT needs :authority and no :path or :scheme';
  } else if (path === undefined || path === '' || scheme === undefined || scheme === '') return 'no :path or :scheme';
  return { method, path: path ?? '', contentLength, grpc, carriesRelayOwned };
}

/** Trailers: regular fields only (RFC 9113 §8.1). */
export function trailersProblem(fields: readonly string[]): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a) return `pseudo-header ${name} in trailers`;
    if (!FIELD_NAME.test(name)) return `field name ${JSON.stringify(name)} is not a lower-case token`;
    if (BAD_VALUE.test(fields[i + 1]!)) return `field ${name} has a NUL, CR or LF in its value`;
  }
  return undefined;
}

/**
 * The request's fields as the app gets them: without the relay's own fields and
 * `http2-settings`, with the agent's scheme towards the app (the client may
 * have spoken TLS to the agent), and with `host` as `:authority` (RFC 9113
 * §8.3.1: a request has one or the other; node's client sends only `host` when
 * given one, and the app's HTTP/2 server rejects a request with neither).
 */
export function appRequestFields(fields: readonly string[], appScheme: string): string[] {
  let host: string | undefined;
  let hasAuthority = false;
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === ':authority') hasAuthority = true;
    else if (fields[i] === 'host') host ??= fields[i + 1];
  }
  const out: string[] = [];
  let pseudo = true;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (pseudo && name.charCodeAt(0) !== 0x3a) {
      pseudo = false;
      if (!hasAuthority && host !== undefined) out.push(':authority', host);
    }
    if (name === 'host' || name === 'http2-settings' || RELAY_OWNED.has(name)) continue;
    out.push(name, name === ':scheme' ? appScheme : fields[i + 1]!);
  }
  return out;
}

/** A response's fields without the relay's own (the app must not speak for the relay). */
export function withoutRelayOwned(fields: readonly string[]): string[] | undefined {
  let out: string[] | undefined;
  for (let i = 0; i < fields.length; i += 2) {
    if (!RELAY_OWNED.has(fields[i]!)) continue;
    out = [];
    for (let j = 0; j < fields.length; j += 2) if (!RELAY_OWNED.has(fields[j]!)) out.push(fields[j]!, fields[j + 1]!);
    return out;
  }
  return out;
}
