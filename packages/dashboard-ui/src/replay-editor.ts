import { useState } from 'preact/hooks';
import { html } from './html.js';
import type { View } from './html.js';
import { decodeBase64, encodeBase64, textOf } from './body.js';
import type { CapturedExchange, Fields, ReplayRequest, ReplayTarget } from './model.js';

/** `name: value` lines, as a user edits them. */
export function parseHeaderLines(text: string): Fields {
  const fields: Fields = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':', line.startsWith(':') ? 1 : 0);
    if (colon <= 0) continue;
    fields.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return fields;
}

/** Edit and resend: method, path, headers and body, to the laptop or the environment. */
export function ReplayEditor({ exchange, onSend }: { exchange: CapturedExchange; onSend: (request: ReplayRequest) => void }): View {
  const bytes = decodeBase64(exchange.requestBody.base64);
  const asText = textOf(bytes, false);
  const [method, setMethod] = useState(exchange.method);
  const [path, setPath] = useState(exchange.path);
  const [headers, setHeaders] = useState(exchange.requestHeaders.map(([n, v]) => `${n}: ${v}`).join('\n'));
  const [base64, setBase64] = useState(asText === undefined);
  const [body, setBody] = useState(asText ?? exchange.requestBody.base64);
  const [target, setTarget] = useState<ReplayTarget>('local');
  const send = (event: Event) => {
    event.preventDefault();
    onSend({
      target,
      interceptId: exchange.interceptId,
      protocol: exchange.protocol,
      method: method.trim().toUpperCase(),
      path: path.trim(),
      headers: parseHeaderLines(headers),
      bodyBase64: base64 ? body.replace(/\s+/g, '') : encodeBase64(new TextEncoder().encode(body)),
    });
  };
  return html`<form class="editor" onSubmit=${send}>
    <div class="editor-line">
      <input class="method-input" aria-label="Method" value=${method} onInput=${(e: Event) => setMethod((e.target as HTMLInputElement).value)} />
      <input class="path-input" aria-label="Path" value=${path} onInput=${(e: Event) => setPath((e.target as HTMLInputElement).value)} />
      <select aria-label="Send to" value=${target} onChange=${(e: Event) => setTarget((e.target as HTMLSelectElement).value as ReplayTarget)}>
        <option value="local">to my laptop</option>
        <option value="environment">to the environment</option>
      </select>
      <button type="submit" class="btn primary">Send</button>
    </div>
    <div class="editor-label">Headers <span class="muted small">one per line, name: value</span></div>
    <textarea aria-label="Headers" rows="6" spellcheck=${false} value=${headers} onInput=${(e: Event) => setHeaders((e.target as HTMLTextAreaElement).value)}></textarea>
    <div class="editor-label">Body <span class="muted small">${base64 ? 'base64 (binary)' : 'text'}${exchange.requestBody.truncated ? ' · only the first 64 KiB were captured' : ''}</span>
      <span class="spacer"></span>
      <label class="check"><input type="checkbox" checked=${base64} onChange=${(e: Event) => {
        const on = (e.target as HTMLInputElement).checked;
        setBody(on ? encodeBase64(new TextEncoder().encode(body)) : (textOf(decodeBase64(body.replace(/\s+/g, '')), false) ?? body));
        setBase64(on);
      }} /> base64</label>
    </div>
    <textarea aria-label="Body" rows="6" spellcheck=${false} value=${body} onInput=${(e: Event) => setBody((e.target as HTMLTextAreaElement).value)}></textarea>
  </form>`;
}
