import { RELAY_OWNED_HEADERS } from '@detour/protocol';
import type { PreviewRoute } from '@detour/protocol';
import { cookieWithoutPreview } from './preview-id.js';

/**
 * The heads the gateway sends on, as plain data: what a visitor's request
 * carries to the entry, and what the entry's answer carries back.
 */

/** RFC 9110 §7.6.1: fields for one connection only, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

export type HeaderList = [string, string][];

/** Pairs of a node `rawHeaders` array, minus hop-by-hop fields and those the `Connection` field names. */
export function endToEnd(rawHeaders: readonly string[]): HeaderList {
  const named = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'connection') for (const token of rawHeaders[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
  }
  const pairs: HeaderList = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named.has(name)) pairs.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
  }
  return pairs;
}

export interface RequestHeaderContext {
  route: PreviewRoute;
  /** The host the visitor used, for X-Forwarded-Host and for Location rewriting. */
  visitorHost: string;
  visitorProto: 'http' | 'https';
  clientAddress: string | undefined;
  /** With the banner on, HTML must come uncompressed so the bar can be added to it. */
  identityEncoding: boolean;
}

/**
 * A visitor's request head for the entry: routing headers the visitor sent are
 * dropped (only the gateway adds them: a preview must not let anyone reach another
 * developer's laptop), the preview's own cookie is dropped, `Host` becomes the
 * entry's (an ingress routes by it), and the intercept's headers are added.
 */
export function requestHeaders(rawHeaders: readonly string[], entryHost: string, context: RequestHeaderContext): HeaderList {
  const strip = new Set([...context.route.routingHeaders, ...context.route.headers.map((h) => h.name), ...RELAY_OWNED_HEADERS, 'host', 'x-forwarded-host', 'x-forwarded-proto']);
  if (context.identityEncoding) strip.add('accept-encoding');
  const out: HeaderList = [['host', entryHost]];
  for (const [name, value] of endToEnd(rawHeaders)) {
    const lower = name.toLowerCase();
    if (strip.has(lower)) continue;
    if (lower === 'cookie') {
      const rest = cookieWithoutPreview(value);
      if (rest !== undefined) out.push([name, rest]);
      continue;
    }
    if (lower === 'x-forwarded-for') continue;
    out.push([name, value]);
  }
  for (const header of context.route.headers) out.push([header.name, header.value]);
  const forwardedFor = rawHeaders.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'x-forwarded-for' ? [rawHeaders[i + 1]!] : []));
  if (context.clientAddress !== undefined) forwardedFor.push(context.clientAddress);
  if (forwardedFor.length > 0) out.push(['x-forwarded-for', forwardedFor.join(', ')]);
  out.push(['x-forwarded-host', context.visitorHost], ['x-forwarded-proto', context.visitorProto]);
  if (context.identityEncoding) out.push(['accept-encoding', 'identity']);
  return out;
}

/**
 * A `Location` that points at the entry (RFC 9110 §10.2.2, absolute or not)
 * is made to point at the preview host, so that a redirect keeps the visitor
 * inside the preview; any other value is left as it is.
 */
export function rewriteLocation(location: string, entryOrigin: string, visitorOrigin: string): string {
  let target: URL;
  try {
    target = new URL(location, entryOrigin);
  } catch {
    return location;
  }
  if (target.origin !== new URL(entryOrigin).origin || !/^[a-z][a-z0-9+.-]*:/i.test(location)) return location;
  return `${visitorOrigin}${target.pathname}${target.search}${target.hash}`;
}

/**
 * A `Set-Cookie` whose Domain attribute names the entry's domain would not be
 * stored by a browser on the preview host (RFC 6265 §5.3 step 6): the attribute
 * is removed, which makes the cookie host-only on the host the visitor sees.
 */
export function rewriteSetCookie(value: string): string {
  return value
    .split(';')
    .filter((part, i) => i === 0 || !/^\s*domain\s*=/i.test(part))
    .join(';');
}

/** The entry's answer head for the visitor: hop-by-hop fields dropped, Location and Set-Cookie adjusted. */
export function responseHeaders(rawHeaders: readonly string[], entryOrigin: string, visitorOrigin: string, dropLength: boolean): HeaderList {
  const out: HeaderList = [];
  for (const [name, value] of endToEnd(rawHeaders)) {
    const lower = name.toLowerCase();
    if (RELAY_OWNED_HEADERS.includes(lower) || (dropLength && lower === 'content-length')) continue;
    if (lower === 'location') out.push([name, rewriteLocation(value, entryOrigin, visitorOrigin)]);
    else if (lower === 'set-cookie') out.push([name, rewriteSetCookie(value)]);
    else out.push([name, value]);
  }
  return out;
}
