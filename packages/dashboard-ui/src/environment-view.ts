import { html } from './html.js';
import type { View } from './html.js';
import type { EnvironmentIntercept, EnvironmentView } from './model.js';

/** `x-detour = alice`, `path /api/*`, `global`. */
export function matcherText(intercept: Pick<EnvironmentIntercept, 'headers' | 'paths' | 'global' | 'mechanism'>): string[] {
  const parts = [
    ...intercept.headers.map((h) => (h.op === 'equals' ? `${h.name}: ${h.value}` : `${h.name} ~ /${h.value}/`)),
    ...intercept.paths.map((p) => (p.op === 'prefix' ? `path ${p.value}*` : p.op === 'equals' ? `path ${p.value}` : `path ~ /${p.value}/`)),
  ];
  if (intercept.mechanism === 'tcp') parts.push('tcp: whole connections');
  else if (intercept.global) parts.push('global: every request');
  return parts;
}

export function policyText(intercept: Pick<EnvironmentIntercept, 'onDisconnect' | 'holdMs'>): string {
  if (intercept.onDisconnect !== 'hold') return intercept.onDisconnect;
  return `hold ${Math.round((intercept.holdMs ?? 10_000) / 1000)} s`;
}

export function OnlineBadge({ online }: { online: boolean }): View {
  return html`<span class=${`pill ${online ? 'online' : 'offline'}`}>${online ? 'online' : 'offline'}</span>`;
}

/** Every service, its agents and every intercept in the environment, whoever owns it. */
export function EnvironmentPanel({ environment }: { environment: EnvironmentView | undefined }): View {
  if (environment === undefined) return html`<div class="empty"><p class="muted">Asking the manager…</p></div>`;
  const me = environment.overview.name;
  return html`<div class="environment">
    ${environment.managerError === undefined ? null : html`<p class="banner bad">The manager did not answer (${environment.managerError}); showing what it said last.</p>`}
    ${environment.services.length === 0 ? html`<div class="empty"><h3>No services</h3><p class="muted">No agent has connected to the manager yet.</p></div>` : null}
    ${environment.services.map(
      (service) => html`<section class="card service" data-service=${service.name}>
        <header class="card-head">
          <h3>${service.name}</h3>
          <span class="muted small">${service.agents.length} ${service.agents.length === 1 ? 'agent' : 'agents'} · ${service.intercepts.length} ${service.intercepts.length === 1 ? 'intercept' : 'intercepts'}</span>
        </header>
        <div class="agents">
          ${service.agents.map((a) => html`<span class="agent" title=${`agent ${a.id}`}><span class="dot on"></span>${a.listen} <span class="muted">${a.protocol}</span></span>`)}
          ${service.agents.length === 0 ? html`<span class="muted small">no agent connected</span>` : null}
        </div>
        ${service.intercepts.length === 0
          ? null
          : html`<table class="grid">
              <thead><tr><th>Intercept</th><th>Owner</th><th>Matches</th><th>State</th><th>On disconnect</th></tr></thead>
              <tbody>
                ${service.intercepts.map(
                  (i) => html`<tr data-intercept=${i.id} class=${i.owner.name === me ? 'mine' : ''}>
                    <td><strong>${i.name}</strong></td>
                    <td>${i.owner.name}${i.owner.name === me ? html` <span class="tag">you</span>` : null}</td>
                    <td>${matcherText(i).map((m) => html`<code class="matcher">${m}</code>`)}</td>
                    <td><${OnlineBadge} online=${i.online} /></td>
                    <td>${policyText(i)}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
      </section>`,
    )}
  </div>`;
}
