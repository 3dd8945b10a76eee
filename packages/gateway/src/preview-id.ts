import { PREVIEW_COOKIE, PREVIEW_EXIT_PATH, PREVIEW_ID_PATTERN, PREVIEW_PATH_PREFIX, PREVIEW_QUERY_PARAM } from '@detour/protocol';

/**
 * Where a visitor's request says which preview it is for, as plain data. Two
 * carriers, because browsers cannot add a header to a navigation or to a
 * WebSocket handshake: the host (`<id>.<domain>`, wildcard DNS) and a cookie
 * set by a share link (`/_detour/preview/<id>` or `?detour-preview=<id>`).
 */
export type PreviewAsk =
  /** `/_detour/preview/exit`: clear the cookie. */
  | { kind: 'exit' }
  /** A share link: set the cookie, then redirect to `location` (the clean URL). */
  | { kind: 'share'; id: string; location: string }
  /** A request of a preview; `via` says which carrier named it. */
  | { kind: 'preview'; id: string; via: 'host' | 'cookie' }
  /** Nothing names a preview. */
  | { kind: 'none' };

/** The id a host names, when it is `<id>.<domain>` (port and case ignored). */
export function idFromHost(host: string | undefined, domain: string): string | undefined {
  if (host === undefined) return undefined;
  const name = host.replace(/:\d+$/, '').replace(/\.$/, '').toLowerCase();
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const label = name.slice(0, -suffix.length);
  return PREVIEW_ID_PATTERN.test(label) ? label : undefined;
}

/** The value of the preview cookie in a `Cookie` header (RFC 6265 §5.4 pairs), if any. */
export function idFromCookie(cookie: string | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  for (const pair of cookie.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === PREVIEW_COOKIE) return pair.slice(at + 1).trim();
  }
  return undefined;
}

/** The `Cookie` header without the preview's own pair (the app never sees it); undefined when nothing is left. */
export function cookieWithoutPreview(cookie: string): string | undefined {
  const kept = cookie.split(';').filter((pair) => {
    const at = pair.indexOf('=');
    return !(at > 0 && pair.slice(0, at).trim() === PREVIEW_COOKIE);
  });
  const joined = kept.map((p) => p.trim()).join('; ');
  return joined === '' ? undefined : joined;
}

/**
 * Removes `detour-preview=…` from a request target's query and leaves every other
 * byte as it came (no decoding and re-encoding, which could change what the app
 * reads). Returns the id and the clean target, or undefined without the parameter.
 */
export function takeQueryId(target: string): { id: string; target: string } | undefined {
  const q = target.indexOf('?');
  if (q < 0) return undefined;
  const hashAt = target.indexOf('#', q);
  const query = target.slice(q + 1, hashAt < 0 ? undefined : hashAt);
  let id: string | undefined;
  const kept = query.split('&').filter((part) => {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (name !== PREVIEW_QUERY_PARAM) return true;
    id ??= eq < 0 ? '' : part.slice(eq + 1);
    return false;
  });
  if (id === undefined) return undefined;
  const rest = kept.join('&');
  return { id, target: `${target.slice(0, q)}${rest === '' ? '' : `?${rest}`}` };
}

/** Reads what a request asks for. The host wins over a cookie: a subdomain names its preview exactly. */
export function readPreviewAsk(target: string, host: string | undefined, cookie: string | undefined, domain: string): PreviewAsk {
  const path = target.split('?', 1)[0]!;
  if (path === PREVIEW_EXIT_PATH) return { kind: 'exit' };
  if (path.startsWith(PREVIEW_PATH_PREFIX)) {
    const id = path.slice(PREVIEW_PATH_PREFIX.length).replace(/\/$/, '');
    return { kind: 'share', id, location: '/' };
  }
  const fromQuery = takeQueryId(target);
  if (fromQuery !== undefined) return { kind: 'share', id: fromQuery.id, location: fromQuery.target };
  const fromHost = idFromHost(host, domain);
  if (fromHost !== undefined) return { kind: 'preview', id: fromHost, via: 'host' };
  const fromCookie = idFromCookie(cookie);
  if (fromCookie !== undefined) return { kind: 'preview', id: fromCookie, via: 'cookie' };
  return { kind: 'none' };
}

/** The share link's cookie: host-only (no Domain), HttpOnly, SameSite=Lax (RFC 6265bis §4.1.2.7), for the whole site. */
export function previewCookie(id: string, secure: boolean): string {
  return `${PREVIEW_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

export function clearedPreviewCookie(secure: boolean): string {
  return `${PREVIEW_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}
