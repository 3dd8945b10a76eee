import { MAX_PREVIEW_TTL_MS, MIN_PREVIEW_TTL_MS } from '@detour/protocol';
import type { PreviewEntry } from '@detour/protocol';
import { DetourError } from '@detour/core';
import { durationMs } from './duration.js';

/** `--expires`: `90s`, `30m`, `24h`, `7d`; from 10s to 30d, so a link handed out always stops working. */
export function parseExpires(value: string): number {
  const ms = durationMs(value.trim());
  if (ms === undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --expires ${JSON.stringify(value)}: use a duration such as 30m, 24h or 7d`);
  if (ms < MIN_PREVIEW_TTL_MS || ms > MAX_PREVIEW_TTL_MS) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --expires ${JSON.stringify(value)}: a preview lasts from 10s to 30d`);
  }
  return ms;
}

/** `--entry`: a service name (its agent), or an origin URL (an ingress, a load balancer). */
export function parseEntry(value: string): PreviewEntry {
  if (/^https?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --entry ${JSON.stringify(value)}: not a URL`);
    }
    if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
      throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --entry ${JSON.stringify(value)}: give an origin only, e.g. http://web.staging.example.test (the visitor's path is kept)`);
    }
    return { kind: 'url', url: url.origin };
  }
  if (!/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(value) || value.length > 63) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --entry ${JSON.stringify(value)}: give a service name (as \`detour list\` shows it) or an http(s):// URL`);
  }
  return { kind: 'service', service: value };
}

/** How `preview list` and `create` show an entry and a time. */
export function describeEntry(entry: PreviewEntry): string {
  return entry.kind === 'service' ? `service ${entry.service}` : entry.url;
}

export function describeExpiry(expiresAt: number, now = Date.now()): string {
  const left = Math.max(0, expiresAt - now);
  const text = left >= 86_400_000 ? `${Math.floor(left / 86_400_000)}d` : left >= 3_600_000 ? `${Math.floor(left / 3_600_000)}h` : left >= 60_000 ? `${Math.floor(left / 60_000)}m` : `${Math.floor(left / 1000)}s`;
  return `in ${text} (${new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z')})`;
}
