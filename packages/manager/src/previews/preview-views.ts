import net from 'node:net';
import { DEFAULT_HEADER_NAME } from '@detour/protocol';
import type { Intercept, Preview, PreviewEntry, PreviewRoute } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { ManagerState } from '../state.js';
import type { PreviewRecord } from './preview-registry.js';

/**
 * What the preview endpoints answer, built from the registry's records and the
 * state (plain data, except {@link checkEntryAnswers}, which dials the entry once).
 */

/** How long creating a preview waits for its entry to accept a connection. */
export const ENTRY_CHECK_TIMEOUT_MS = 2_000;

/**
 * The signed value to send for an intercept's signed matcher (`--signed-keys`): its owner's
 * current one, the same the developer sends; undefined when the owner's session is gone.
 */
export type SignedValueOf = (intercept: Pick<Intercept, 'owner'>) => string | undefined;

/**
 * The headers a preview adds: the intercept's exact header matchers; a signed matcher
 * gets its owner's signed value (a bare one would go to the app). One matched by regex
 * has no value to add.
 */
export function previewHeaders(intercept: Pick<Intercept, 'headers' | 'name' | 'owner'>, signedValueOf: SignedValueOf): { name: string; value: string }[] {
  if (intercept.headers.some((h) => h.op === 'regex')) {
    throw new DetourError('DETOUR_ERR_PREVIEW_NO_HEADER', `intercept ${intercept.name} matches a header by regex, so a preview has no exact value to send; intercept with --http-header NAME=VALUE (or auto)`);
  }
  return intercept.headers.map((h) => {
    if (h.signed !== true) return { name: h.name, value: h.value };
    const value = signedValueOf(intercept);
    if (value === undefined) {
      throw new DetourError('DETOUR_ERR_PREVIEW_NO_HEADER', `intercept ${intercept.name} matches a signed value and ${intercept.owner.name}'s session has ended, so there is no valid value to send; it comes back when they reconnect`);
    }
    return { name: h.name, value };
  });
}

/** The origin a preview forwards to: the service's first agent as it registered its address, or the URL. */
export function entryUrl(entry: PreviewEntry, state: ManagerState): string {
  if (entry.kind === 'url') return entry.url.replace(/\/$/, '');
  const agent = state.agentsOf(entry.service)[0];
  if (agent === undefined || agent.listen === '') {
    throw new DetourError('DETOUR_ERR_PREVIEW_ENTRY_UNREACHABLE', `no agent of ${entry.service} is connected, so the preview has nowhere to go; start one, or pass --entry URL`);
  }
  return `http://${agent.listen}`;
}

/** Dials the entry once: a preview whose entry does not answer is refused at creation rather than handed out broken. */
export async function checkEntryAnswers(url: string): Promise<void> {
  const { hostname, port, protocol } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port || (protocol === 'https:' ? 443 : 80)) });
    const fail = (why: string) => {
      socket.destroy();
      reject(new DetourError('DETOUR_ERR_PREVIEW_ENTRY_UNREACHABLE', `the entry ${url} does not answer (${why}); check --entry`));
    };
    socket.setTimeout(ENTRY_CHECK_TIMEOUT_MS, () => fail(`no connection within ${ENTRY_CHECK_TIMEOUT_MS} ms`));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
  });
}

/** The two links of a preview under the gateway's public origin `base` (e.g. `http://preview.localhost:8081`). */
export function previewLinks(base: string, id: string): { url: string; shareUrl: string } {
  const origin = new URL(base);
  return { url: `${origin.protocol}//${id}.${origin.host}/`, shareUrl: `${origin.origin}/_detour/preview/${id}` };
}

export function previewView(record: PreviewRecord, intercept: Intercept, base: string | undefined): Preview {
  return {
    ...(record.id === undefined ? {} : { id: record.id }),
    hint: record.hint,
    interceptId: intercept.id,
    interceptName: intercept.name,
    service: intercept.service,
    owner: intercept.owner.name,
    entry: record.entry,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    ...(record.id === undefined || base === undefined ? {} : previewLinks(base, record.id)),
  };
}

/** What the gateway needs for one preview. */
export function previewRoute(record: PreviewRecord, intercept: Intercept, state: ManagerState, signedValueOf: SignedValueOf): PreviewRoute {
  const routingHeaders = new Set([DEFAULT_HEADER_NAME]);
  for (const service of state.services()) for (const other of service.intercepts) for (const h of other.headers) routingHeaders.add(h.name);
  return {
    hint: record.hint,
    owner: intercept.owner.name,
    service: intercept.service,
    interceptName: intercept.name,
    entryUrl: entryUrl(record.entry, state),
    headers: previewHeaders(intercept, signedValueOf),
    routingHeaders: [...routingHeaders].sort(),
    expiresAt: record.expiresAt,
  };
}
