import { useState } from 'preact/hooks';
import { html } from './html.js';
import type { View } from './html.js';
import { createPreview, removePreview } from './api.js';
import { CopyButton } from './parts.js';
import { OnlineBadge, matcherText, policyText } from './environment-view.js';
import type { EnvironmentView, MyIntercept, PreviewView } from './model.js';

/**
 * This developer's intercepts, one card each: where requests go, how to reach
 * it through the environment, and its preview links.
 */
export function MyIntercepts({ environment }: { environment: EnvironmentView | undefined }): View {
  if (environment === undefined) return html`<div class="empty"><p class="muted">Asking the daemon…</p></div>`;
  const { header } = environment.overview;
  if (environment.mine.length === 0) {
    return html`<div class="empty">
      <h3>No intercepts</h3>
      <p class="muted">Run <code>detour intercept SERVICE --port PORT</code>; it appears here at once.</p>
    </div>`;
  }
  return html`<div class="cards">${environment.mine.map((mine) => html`<${InterceptCard} mine=${mine} environment=${environment} header=${header} />`)}</div>`;
}

function InterceptCard({ mine, environment, header }: { mine: MyIntercept; environment: EnvironmentView; header: { name: string; value: string } }): View {
  const live = mine.intercept;
  const online = live?.online ?? false;
  const agent = environment.services.find((s) => s.name === mine.spec.service)?.agents[0];
  return html`<section class="card intercept" data-intercept=${mine.spec.id}>
    <header class="card-head">
      <h3>${mine.spec.name}</h3>
      ${live === undefined ? html`<span class="pill pending">not accepted yet</span>` : html`<${OnlineBadge} online=${online} />`}
    </header>
    ${mine.error === undefined ? null : html`<p class="error-line">${mine.error}</p>`}
    ${sectionsOf(mine, header, agent?.listen)}
    <${Previews} mine=${mine} previews=${environment.previews.filter((p) => p.interceptId === mine.spec.id)} />
  </section>`;
}

/** `in 23 h`, `in 12 min`, `expired`. */
export function expiresIn(expiresAt: number, now: number): string {
  const ms = expiresAt - now;
  if (ms <= 0) return 'expired';
  if (ms < 60 * 60_000) return `in ${Math.max(1, Math.round(ms / 60_000))} min`;
  if (ms < 48 * 60 * 60_000) return `in ${Math.round(ms / (60 * 60_000))} h`;
  return `in ${Math.round(ms / (24 * 60 * 60_000))} days`;
}

/** The intercept's preview URLs: open or copy each link, revoke it, or make a new one. */
function Previews({ mine, previews }: { mine: MyIntercept; previews: PreviewView[] }): View {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const now = Date.now();
  return html`<div class="previews">
    <div class="previews-head">
      <span class="muted small">Preview links</span>
      <span class="spacer"></span>
      <button type="button" class="btn" disabled=${busy || mine.intercept === undefined} onClick=${() => void act(() => createPreview(mine.spec.name))}>New preview link</button>
    </div>
    ${error === undefined ? null : html`<p class="error-line">${error}</p>`}
    ${previews.length === 0
      ? html`<p class="muted small">None. A preview link opens the environment with your header added, in any browser.</p>`
      : previews.map(
          (p) => html`<div class="preview" data-preview=${p.hint}>
            <div class="preview-line">
              ${p.url === undefined
                ? html`<code class="muted">${p.hint}… (restored after a manager restart: the link was shown once, when it was made)</code>`
                : html`<a href=${p.url} target="_blank" rel="noopener noreferrer"><code>${p.url}</code></a>`}
              ${p.url === undefined ? null : html`<${CopyButton} label="Copy link" text=${() => p.url!} />`}
              ${p.shareUrl === undefined ? null : html`<${CopyButton} label="Copy share link" title="For setups without wildcard DNS: sets a cookie, then redirects" text=${() => p.shareUrl!} />`}
              <button type="button" class="btn ghost danger" disabled=${busy} onClick=${() => void act(() => removePreview(p.id ?? p.hint))}>Revoke</button>
            </div>
            <span class="muted small">enters through ${p.entry.kind === 'service' ? p.entry.service : p.entry.url} · expires ${expiresIn(p.expiresAt, now)}</span>
          </div>`,
        )}
  </div>`;
}

function sectionsOf(mine: MyIntercept, header: { name: string; value: string }, agentListen: string | undefined): View[] {
  const { spec } = mine;
  const sendsHeader = spec.headers.find((h) => h.op === 'equals');
  const curl = sendsHeader === undefined || agentListen === undefined ? undefined : `curl -H '${sendsHeader.name}: ${sendsHeader.value}' http://${agentListen}/`;
  return [
    html`<dl class="facts">
      <dt>Service</dt><dd>${spec.service}</dd>
      <dt>Goes to</dt><dd><code>127.0.0.1:${spec.localPort}</code> on this laptop</dd>
      <dt>Matches</dt><dd>${matcherText(spec).map((m) => html`<code class="matcher">${m}</code>`)}</dd>
      <dt>When you are offline</dt><dd>${policyText(spec)}</dd>
      <dt>Your header</dt><dd><code>${header.name}: ${header.value}</code></dd>
    </dl>`,
    curl === undefined
      ? html``
      : html`<div class="reach">
          <span class="muted small">Reach it through the environment</span>
          <div class="reach-line"><code>${curl}</code><${CopyButton} label="Copy" text=${() => curl} /></div>
        </div>`,
  ];
}
