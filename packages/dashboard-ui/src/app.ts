import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import type { View } from './html.js';
import { subscribe } from './api.js';
import { EnvironmentPanel } from './environment-view.js';
import { Inspector } from './inspector.js';
import { MyIntercepts } from './intercepts-view.js';
import type { CapturedExchange, DashboardEvent, EnvironmentView } from './model.js';

type Tab = 'inspector' | 'intercepts' | 'environment';

/** Newest first, by id (ids grow with arrival). */
function sorted(byId: Map<number, CapturedExchange>): CapturedExchange[] {
  return [...byId.values()].sort((a, b) => b.id - a.id);
}

function App(): View {
  const [exchanges, setExchanges] = useState<Map<number, CapturedExchange>>(new Map());
  const [environment, setEnvironment] = useState<EnvironmentView | undefined>(undefined);
  const [live, setLive] = useState(false);
  const [tab, setTab] = useState<Tab>('inspector');
  useEffect(
    () =>
      subscribe((event: DashboardEvent) => {
        switch (event.type) {
          case 'reset':
            setExchanges(new Map(event.exchanges.map((e) => [e.id, e])));
            if (event.environment !== undefined) setEnvironment(event.environment);
            break;
          case 'exchange':
            setExchanges((all) => new Map(all).set(event.exchange.id, event.exchange));
            break;
          case 'dropped':
            setExchanges((all) => {
              const kept = new Map(all);
              for (const id of event.ids) kept.delete(id);
              return kept;
            });
            break;
          case 'environment':
            setEnvironment(event.environment);
            break;
          case 'cleared':
            setExchanges(new Map());
            break;
        }
      }, setLive),
    [],
  );
  const list = sorted(exchanges);
  const overview = environment?.overview;
  const connected = overview?.connection.state === 'ready';
  return html`<div class="app">
    <header class="topbar">
      <div class="brand"><img src="/ui/logo.svg" alt="" width="22" height="22" /><span>detour</span></div>
      <nav class="tabs">
        <button type="button" class=${tab === 'inspector' ? 'on' : ''} onClick=${() => setTab('inspector')}>Inspector <span class="count-pill">${list.length}</span></button>
        <button type="button" class=${tab === 'intercepts' ? 'on' : ''} onClick=${() => setTab('intercepts')}>Your intercepts <span class="count-pill">${environment?.mine.length ?? 0}</span></button>
        <button type="button" class=${tab === 'environment' ? 'on' : ''} onClick=${() => setTab('environment')}>Environment <span class="count-pill">${environment?.services.length ?? 0}</span></button>
      </nav>
      <div class="whoami">
        ${overview === undefined
          ? null
          : html`<span class="me" title=${`${overview.header.name}: ${overview.header.value}`}>${overview.name}</span>
              <span class="muted small" title="The manager this daemon is connected to">${overview.manager}</span>
              <span class=${`conn ${connected ? 'ok' : 'bad'}`} title=${overview.connection.lastError ?? ''}><span class="dot"></span>${overview.connection.state}</span>`}
        <span class=${`conn ${live ? 'ok' : 'bad'}`} title="Live updates from the daemon"><span class="dot"></span>${live ? 'live' : 'reconnecting'}</span>
      </div>
    </header>
    <main>
      ${tab === 'inspector' ? html`<${Inspector} exchanges=${list} environment=${environment} />` : null}
      ${tab === 'intercepts' ? html`<${MyIntercepts} environment=${environment} />` : null}
      ${tab === 'environment' ? html`<${EnvironmentPanel} environment=${environment} />` : null}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app')!);
