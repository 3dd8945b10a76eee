import { PREVIEW_EXIT_PATH } from '@detour/protocol';

/**
 * The small pages the gateway answers itself. A visit that cannot reach a
 * preview gets one of these, never the environment's page: a colleague must
 * not review the shared version while believing it is yours.
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · detour preview</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}h1{font-size:1.4rem}code{background:#f1f3f5;padding:0 .25em;border-radius:3px}</style>
</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>
`;
}

export const PAGES = {
  unknown: page('This preview is not available', `<p>The preview link is unknown, was revoked when its intercept ended, or has expired.</p><p>Ask its owner for a new one (<code>detour preview create</code>).</p><p><a href="${PREVIEW_EXIT_PATH}">Leave preview mode</a></p>`),
  none: page('No preview selected', '<p>This is a detour preview gateway. Open a preview link (<code>https://&lt;id&gt;.preview.…/</code> or <code>…/_detour/preview/&lt;id&gt;</code>) to see a developer\'s version of the environment.</p>'),
  managerDown: page('Previews are unavailable right now', '<p>The preview gateway cannot reach the detour manager to check this link. Try again in a moment.</p>'),
  entryDown: page('The environment did not answer', "<p>The preview's entry point (a service's agent, an ingress or a URL) refused or dropped the connection.</p><p>Try again in a moment. If it keeps failing, ask the preview's owner to check that the entry is running (<code>detour list</code> shows its agents) and that their intercept is (<code>detour status</code>).</p>"),
  exited: page('You left preview mode', '<p>This browser no longer sends its requests to a developer\'s preview.</p><p><a href="/">Continue</a></p>'),
} as const;

/** The bar `--banner` adds at the top of HTML answers. */
export function bannerHtml(owner: string, service: string): string {
  return (
    '<div id="detour-preview-banner" style="position:sticky;top:0;z-index:2147483647;margin:0;padding:6px 12px;background:#6f42c1;color:#fff;font:14px/1.4 system-ui,sans-serif;text-align:center">' +
    `You are viewing <strong>${escapeHtml(owner)}</strong>'s preview of <strong>${escapeHtml(service)}</strong> · ` +
    `<a href="${PREVIEW_EXIT_PATH}" style="color:#fff">exit</a></div>`
  );
}
