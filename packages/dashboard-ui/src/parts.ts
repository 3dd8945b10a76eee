import { useState } from 'preact/hooks';
import { html } from './html.js';
import type { View } from './html.js';
import { decodeBase64, fieldValue, formatBytes, viewBody } from './body.js';
import { isSecretField, maskValue } from './masking.js';
import type { CapturedBody, Fields } from './model.js';

/** A credential shown masked; a click shows it (and hides it again). */
export function SecretValue({ name, value }: { name: string; value: string }): View {
  const [revealed, setRevealed] = useState(false);
  return html`<button type="button" class=${`secret ${revealed ? 'revealed' : ''}`} title=${revealed ? 'Click to hide' : 'Click to reveal'} onClick=${() => setRevealed(!revealed)}>
    ${revealed ? value : maskValue(name, value)}
  </button>`;
}

export function FieldsTable({ fields, empty = 'none' }: { fields: Fields | undefined; empty?: string }): View {
  if (fields === undefined || fields.length === 0) return html`<p class="muted small">${empty}</p>`;
  return html`<table class="fields">
    <tbody>
      ${fields.map(
        ([name, value]) => html`<tr>
          <th>${name}</th>
          <td>${isSecretField(name) ? html`<${SecretValue} name=${name} value=${value} />` : value}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

export function BodyView({ body, headers }: { body: CapturedBody | undefined; headers: Fields | undefined }): View {
  const view = viewBody(body, fieldValue(headers, 'content-type'));
  if (view.kind === 'empty') return html`<p class="muted small">no body</p>`;
  const label = { json: 'JSON', text: 'text', binary: 'binary · hex' }[view.kind];
  return html`<div class="body">
    <div class="body-meta">
      <span class="tag">${label}</span>
      <span>${formatBytes(body!.bytes)}</span>
      ${body!.truncated ? html`<span class="warn">first ${formatBytes(decodeBase64(body!.base64).length)} kept; the rest passed through uncaptured</span>` : null}
    </div>
    <pre class=${`code ${view.kind}`}>${view.text}</pre>
  </div>`;
}

export function StatusBadge({ status, state, error }: { status?: number; state: string; error?: string }): View {
  if (status === undefined) {
    return state === 'error' ? html`<span class="status s-err" title=${error}>failed</span>` : html`<span class="status s-pending">…</span>`;
  }
  const kind = status >= 500 ? 's5' : status >= 400 ? 's4' : status >= 300 ? 's3' : status >= 200 ? 's2' : 's1';
  return html`<span class=${`status ${kind}`}>${status}</span>`;
}

export function Method({ method }: { method: string }): View {
  return html`<span class=${`method m-${method.toLowerCase()}`}>${method}</span>`;
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1) return '<1 ms';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** `14:03:07.251`, or `14:03:07` where space is short (the list). */
export function formatTime(epochMs: number, withMs = true): string {
  const d = new Date(epochMs);
  const time = d.toLocaleTimeString([], { hour12: false });
  return withMs ? `${time}.${String(d.getMilliseconds()).padStart(3, '0')}` : time;
}

/** A button that says "Copied" for a moment after its action. */
export function CopyButton({ label, text, title }: { label: string; text: () => string; title?: string }): View {
  const [done, setDone] = useState(false);
  const copy = async () => {
    const { copyText } = await import('./api.js');
    await copyText(text());
    setDone(true);
    setTimeout(() => setDone(false), 1200);
  };
  return html`<button type="button" class="btn" title=${title} onClick=${copy}>${done ? 'Copied ✓' : label}</button>`;
}
