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

const RELAY_OWNED = new Set(RELAY_OWNED_HEADERS);

/** The field names a `Connection` field lists (RFC 9110 §7.6.1), or undefined when there is none, the usual case. */
function connectionNamed(rawHeaders: readonly string[]): Set<string> | undefined {
  let named: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === 10 && rawHeaders[i]!.toLowerCase() === 'connection') {
      named ??= new Set();
      for (const token of rawHeaders[i + 1]!.split(',')) named.add(token.trim().toLowerCase());
    }
  }
  return named;
}

/** Whether a field (its lower-case name) is end-to-end: not hop-by-hop and not named by `Connection`. */
function isEndToEnd(lower: string, named: Set<string> | undefined): boolean {
  return !HOP_BY_HOP.has(lower) && (named === undefined || !named.has(lower));
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
  const strip = stripped(context.route, context.identityEncoding);
  const named = connectionNamed(rawHeaders);
  const out: HeaderList = [['host', entryHost]];
  let forwardedFor = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === '' ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    if (strip.has(lower) || !isEndToEnd(lower, named)) continue;
    if (lower === 'cookie') {
      const rest = cookieWithoutPreview(value);
      if (rest !== undefined) out.push([name, rest]);
      continue;
    }
    out.push([name, value]);
  }
  for (const header of context.route.headers) out.push([header.name, header.value]);
  if (context.clientAddress !== undefined) forwardedFor = forwardedFor === '' ? context.clientAddress : `${forwardedFor}, ${context.clientAddress}`;
  if (forwardedFor !== '') out.push(['x-forwarded-for', forwardedFor]);
  out.push(['x-forwarded-host', context.visitorHost], ['x-forwarded-proto', context.visitorProto]);
  if (context.identityEncoding) out.push(['accept-encoding', 'identity']);
  return out;
}

/** The fields a visitor's request loses, per route (the lookup cache hands out one route object for many requests). */
const strips = new WeakMap<PreviewRoute, { plain: Set<string>; identity: Set<string> }>();

function stripped(route: PreviewRoute, identityEncoding: boolean): Set<string> {
  let sets = strips.get(route);
  if (sets === undefined) {
    const plain = new Set([...route.routingHeaders, ...route.headers.map((h) => h.name), ...RELAY_OWNED_HEADERS, 'host', 'x-forwarded-host', 'x-forwarded-proto'].map((n) => n.toLowerCase()));
    sets = { plain, identity: new Set([...plain, 'accept-encoding']) };
    strips.set(route, sets);
  }
  return identityEncoding ? sets.identity : sets.plain;
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
  const named = connectionNamed(rawHeaders);
  const out: HeaderList = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (!isEndToEnd(lower, named) || RELAY_OWNED.has(lower) || (dropLength && lower === 'content-length')) continue;
    if (lower === 'location') out.push([name, rewriteLocation(value, entryOrigin, visitorOrigin)]);
    else if (lower === 'set-cookie') out.push([name, rewriteSetCookie(value)]);
    else out.push([name, value]);
  }
  return out;
}
