import { useState } from 'preact/hooks';
import { html } from './html.js';
import type { View } from './html.js';
import { clearExchanges, download } from './api.js';
import { formatBytes } from './body.js';
import { ExchangeDetail } from './exchange-detail.js';
import { matchesFilter } from './filter.js';
import { toHar } from './har.js';
import { grpcCall } from './grpc.js';
import { Method, StatusBadge, formatDuration, formatTime } from './parts.js';
import type { CapturedExchange, EnvironmentView } from './model.js';

/** The inspector: every request routed to this laptop, newest first, filterable, and the selected one in detail. */
export function Inspector({ exchanges, environment }: { exchanges: CapturedExchange[]; environment: EnvironmentView | undefined }): View {
  const [filter, setFilter] = useState('');
  const [selected, setSelected] = useState<number | undefined>(undefined);
  const [revealInHar, setRevealInHar] = useState(false);
  const shown = exchanges.filter((e) => matchesFilter(e, filter));
  const current = shown.find((e) => e.id === selected) ?? shown[0];
  const localPortOf = (interceptId: string) => environment?.mine.find((m) => m.spec.id === interceptId)?.spec.localPort;
  const exportHar = () => {
    const har = toHar(shown, { revealSecrets: revealInHar, creatorVersion: environment?.overview.version ?? 'unknown' });
    download(`detour-${new Date().toISOString().replace(/[:.]/g, '-')}.har`, 'application/json', JSON.stringify(har, null, 2));
  };
  const localPort = current === undefined ? undefined : localPortOf(current.interceptId);
  return html`<div class="inspector">
    <div class="toolbar">
      <input type="search" class="filter" placeholder="Filter   path · method:post · status:5xx · proto:grpc" aria-label="Filter requests" value=${filter} onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} />
      <span class="muted small count">${shown.length === exchanges.length ? `${exchanges.length} ${exchanges.length === 1 ? 'request' : 'requests'}` : `${shown.length} of ${exchanges.length}`}</span>
      <span class="spacer"></span>
      <label class="check small" title="Put Authorization, Cookie and Set-Cookie in the HAR as sent"><input type="checkbox" checked=${revealInHar} onChange=${(e: Event) => setRevealInHar((e.target as HTMLInputElement).checked)} /> secrets in HAR</label>
      <button type="button" class="btn" disabled=${shown.length === 0} onClick=${exportHar}>Export HAR</button>
      <button type="button" class="btn ghost" disabled=${exchanges.length === 0} onClick=${() => void clearExchanges()}>Clear</button>
    </div>
    <div class="split">
      <div class="list" role="list">
        ${shown.length === 0
          ? html`<div class="empty">
              <h3>${exchanges.length === 0 ? 'No requests yet' : 'Nothing matches the filter'}</h3>
              <p class="muted">${exchanges.length === 0 ? 'Requests routed to this laptop by your intercepts appear here as they arrive.' : 'Clear the filter to see every captured request.'}</p>
            </div>`
          : shown.map(
              (e) => html`<button type="button" role="listitem" class=${`row ${current?.id === e.id ? 'selected' : ''}`} data-id=${e.id} onClick=${() => setSelected(e.id)}>
                <span class="c-time muted" title=${formatTime(e.startedAt)}>${formatTime(e.startedAt, false)}</span>
                <span class="c-method"><${Method} method=${e.method} /></span>
                <span class="c-path" title=${e.path}>${e.path}${e.wiretap === undefined ? '' : html` <span class="tag" title="a wiretap copy: your answer was discarded">wiretap · app ${e.wiretap.appStatus}</span>`}${e.fallthrough === 'to-app' ? html` <span class="tag fell-through" title="your answer had a --fallthrough-status: the app answered the caller">fell through → app</span>` : ''}</span>
                <span class="c-status">${e.protocol === 'grpc' && e.state === 'complete' ? html`<${GrpcBadge} exchange=${e} />` : html`<${StatusBadge} status=${e.status} state=${e.state} error=${e.error} />`}</span>
                <span class="c-dur muted">${formatDuration(e.durationMs)}</span>
                <span class="c-size muted">${e.responseBody === undefined ? '' : formatBytes(e.responseBody.bytes)}</span>
                <span class="c-svc muted" title=${e.protocol}>${e.service ?? ''}</span>
              </button>`,
            )}
      </div>
      <div class="detail-wrap">
        ${current === undefined
          ? html`<div class="empty"><p class="muted">Select a request to see its headers and bodies, replay it, or copy it as cURL.</p></div>`
          : html`<${ExchangeDetail} exchange=${current} localOrigin=${localPort === undefined ? undefined : `http://127.0.0.1:${localPort}`} />`}
      </div>
    </div>
  </div>`;
}

/** A finished gRPC call shows its gRPC status (the HTTP status of a call is 200 even when it failed). */
function GrpcBadge({ exchange }: { exchange: CapturedExchange }): View {
  const status = grpcCall(exchange).status;
  if (status === undefined) return html`<${StatusBadge} status=${exchange.status} state=${exchange.state} />`;
  return html`<span class=${`status ${status.code === 0 ? 's2' : 's5'}`} title=${`gRPC ${status.name}`}>${status.code === 0 ? 'OK' : status.code}</span>`;
}
