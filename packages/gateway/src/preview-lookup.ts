import { Pool } from 'undici';
import { API_PATHS, ErrorBodySchema, PREVIEW_ID_PATTERN, PreviewRouteSchema } from '@detour/protocol';
import type { PreviewRoute } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { ManagerEndpoint } from '@detour/transport';

export const LOOKUP_DEFAULTS = {
  /**
   * How long an answer is reused. Short on purpose: a revoked preview (its
   * intercept left) must stop working promptly, and one visit's page load makes
   * dozens of requests that share the answer.
   */
  cacheMs: 1_000,
  /** A manager that does not answer within this gets the visitor a 503 page, not a hang. */
  timeoutMs: 3_000,
  /** Bounds the cache whatever ids visitors try. */
  maxEntries: 10_000,
} as const;

/** A preview's route, or `undefined`: unknown, revoked or expired. Throws DETOUR_ERR_GATEWAY_MANAGER_UNREACHABLE. */
export type PreviewLookup = (id: string) => Promise<PreviewRoute | undefined>;

export interface LookupOptions {
  /**
   * The manager and how to verify it (transport's `managerEndpoint`); a function when the
   * gateway runs inside the manager's process and listens before the manager does.
   */
  manager: ManagerEndpoint | (() => ManagerEndpoint | undefined);
  token: string;
  cacheMs?: number;
  timeoutMs?: number;
  now?: () => number;
}

/** Asks the manager which intercept a preview belongs to (`GET /v1/previews/:id/route`), with a short cache. */
export function createPreviewLookup(options: LookupOptions): { lookup: PreviewLookup; close(): Promise<void> } {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? LOOKUP_DEFAULTS.cacheMs;
  const timeoutMs = options.timeoutMs ?? LOOKUP_DEFAULTS.timeoutMs;
  let pool: Pool | undefined;
  let base = '';
  const managerPool = (): Pool => {
    if (pool !== undefined) return pool;
    const endpoint = typeof options.manager === 'function' ? options.manager() : options.manager;
    if (endpoint === undefined) throw new Error('the manager is not listening yet');
    base = endpoint.origin;
    pool = new Pool(base, { connections: 8, connect: { timeout: timeoutMs, ...endpoint.tls }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    return pool;
  };
  const cache = new Map<string, { at: number; route: PreviewRoute | undefined }>();

  const ask = async (id: string): Promise<PreviewRoute | undefined> => {
    let response;
    let text: string;
    try {
      response = await managerPool().request({ method: 'GET', path: API_PATHS.previewRoute(id), headers: { authorization: `Bearer ${options.token}` }, signal: AbortSignal.timeout(timeoutMs) });
      text = await response.body.text();
    } catch (cause) {
      throw new DetourError('DETOUR_ERR_GATEWAY_MANAGER_UNREACHABLE', `cannot reach the manager at ${base}: ${(cause as Error).message}`, { cause });
    }
    if (response.statusCode === 200) return PreviewRouteSchema.parse(JSON.parse(text));
    const body = ErrorBodySchema.safeParse(safeJson(text));
    if (response.statusCode === 404 && body.success && body.data.error.code === 'DETOUR_ERR_PREVIEW_NOT_FOUND') return undefined;
    throw new DetourError('DETOUR_ERR_GATEWAY_MANAGER_UNREACHABLE', `the manager at ${base} answered ${response.statusCode}${body.success ? ` (${body.data.error.code})` : ''} to a preview lookup`);
  };

  /** Lookups under way: when an answer expires, the many requests of a page load share one question to the manager. */
  const asking = new Map<string, Promise<PreviewRoute | undefined>>();
  return {
    lookup: async (id) => {
      // Ids that cannot be one are not worth a round trip (and are not cached, so they cannot fill the cache).
      if (!PREVIEW_ID_PATTERN.test(id)) return undefined;
      const cached = cache.get(id);
      const at = now();
      if (cached !== undefined && at - cached.at < cacheMs) return cached.route !== undefined && cached.route.expiresAt <= at ? undefined : cached.route;
      let pending = asking.get(id);
      if (pending === undefined) {
        pending = ask(id)
          .then((route) => {
            if (cache.size >= LOOKUP_DEFAULTS.maxEntries) cache.clear();
            cache.set(id, { at: now(), route });
            return route;
          })
          .finally(() => asking.delete(id));
        asking.set(id, pending);
      }
      return pending;
    },
    close: async () => pool?.close(),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
