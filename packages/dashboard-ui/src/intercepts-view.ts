import { html } from './html.js';
import type { View } from './html.js';
import { CopyButton } from './parts.js';
import { OnlineBadge, matcherText, policyText } from './environment-view.js';
import type { EnvironmentView, MyIntercept } from './model.js';

/**
 * This developer's intercepts, one card each. A card is a list of sections
 * (where requests go, how to reach it); more per-intercept sections (such as
 * preview links) are added to `sectionsOf`.
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
  </section>`;
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
