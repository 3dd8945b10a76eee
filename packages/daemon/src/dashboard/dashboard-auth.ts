import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may use the dashboard: whoever holds the token printed by `detour
 * dashboard`, as Jupyter does. The token arrives once in the URL and is
 * swapped for an HttpOnly, SameSite=Strict cookie (then the address bar, the
 * history and the Referer no longer carry it). Cookies are per host, not per
 * port, so the cookie's name carries the port: two daemons on one laptop do
 * not overwrite each other's.
 */
export class DashboardAuth {
  readonly token = randomBytes(32).toString('base64url');
  #port = 0;

  /** The port is known once the server listens; nothing is served before. */
  listeningOn(port: number): void {
    this.#port = port;
  }

  get cookieName(): string {
    return `detour-dashboard-${this.#port}`;
  }

  /** `Set-Cookie` for a browser that presented the token. */
  cookie(): string {
    return `${this.cookieName}=${this.token}; Path=/; HttpOnly; SameSite=Strict`;
  }

  matches(candidate: string | null | undefined): boolean {
    if (candidate === null || candidate === undefined) return false;
    const a = Buffer.from(candidate);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Whether the request carries the cookie. */
  authenticated(req: IncomingMessage): boolean {
    return this.matches(cookieValue(req.headers.cookie, this.cookieName));
  }

  /**
   * DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1
   * reaches this port with its own Host. Only the loopback names are served.
   */
  hostAllowed(req: IncomingMessage): boolean {
    const host = req.headers.host;
    return host === `127.0.0.1:${this.#port}` || host === `localhost:${this.#port}` || host === `[::1]:${this.#port}`;
  }

  /** A state-changing call must come from the dashboard's own page (SameSite already keeps other sites' cookies out; this keeps their requests out). */
  sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin !== undefined && origin === `http://${req.headers.host}`;
  }
}

/** One cookie's value from a Cookie header (RFC 6265 §5.4 pairs separated by `; `). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
