import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import type { View } from './html.js';
import { sendReplay } from './api.js';
import { toCurl } from './curl.js';
import { grpcCall } from './grpc.js';
import { BodyView, CopyButton, FieldsTable, Method, StatusBadge, formatDuration, formatTime } from './parts.js';
import { ReplayEditor } from './replay-editor.js';
import type { CapturedExchange, ReplayAnswer, ReplayRequest, ReplayTarget } from './model.js';

/** One replay: in flight, answered, or failed. */
export interface ReplayRun {
  key: number;
  target: ReplayTarget;
  edited: boolean;
  request: ReplayRequest;
  answer?: ReplayAnswer;
  error?: string;
}

export function requestOf(exchange: CapturedExchange, target: ReplayTarget): ReplayRequest {
  return {
    target,
    interceptId: exchange.interceptId,
    protocol: exchange.protocol,
    method: exchange.method,
    path: exchange.path,
    headers: exchange.requestHeaders,
    bodyBase64: exchange.requestBody.base64,
  };
}

let nextRunKey = 1;

/** `api` when the intercept is named after its service, else `api-v2 on api`. */
function interceptLabel(exchange: CapturedExchange): string {
  const name = exchange.interceptName ?? exchange.interceptId;
  return exchange.service === undefined || exchange.service === name ? `intercept ${name}` : `intercept ${name} on ${exchange.service}`;
}

/** The selected exchange: its request and answer, the actions, and the replays beside the original. */
export function ExchangeDetail({ exchange, localOrigin }: { exchange: CapturedExchange; localOrigin: string | undefined }): View {
  const [runs, setRuns] = useState<ReplayRun[]>([]);
  const [editing, setEditing] = useState(false);
  const [tab, setTab] = useState<'request' | 'response'>('response');
  useEffect(() => {
    setRuns([]);
    setEditing(false);
  }, [exchange.id]);

  const run = async (request: ReplayRequest, edited: boolean) => {
    const key = nextRunKey++;
    setRuns((all) => [{ key, target: request.target, edited, request }, ...all]);
    const settle = (patch: Partial<ReplayRun>) => setRuns((all) => all.map((r) => (r.key === key ? { ...r, ...patch } : r)));
    try {
      settle({ answer: await sendReplay(request) });
    } catch (err) {
      settle({ error: (err as Error).message });
    }
  };
  const truncated = exchange.requestBody.truncated;
  const grpc = exchange.protocol === 'grpc' ? grpcCall(exchange) : undefined;
  return html`<section class="detail" data-exchange=${exchange.id}>
    <header class="detail-head">
      <div class="detail-title">
        <${Method} method=${exchange.method} />
        <code class="path">${exchange.path}</code>
      </div>
      <div class="detail-meta">
        <${StatusBadge} status=${exchange.status} state=${exchange.state} error=${exchange.error} />
        <span>${formatDuration(exchange.durationMs)}</span>
        <span class="tag">${exchange.protocol}</span>
        ${exchange.wiretap === undefined ? '' : html`<span class="tag">wiretap copy: the caller got ${exchange.wiretap.appStatus} from the app; this answer was discarded</span>`}
        ${exchange.fallthrough === 'to-app'
          ? html`<span class="tag fell-through">fell through: the app answered the caller</span>`
          : exchange.fallthrough === 'ineligible'
            ? html`<span class="tag">body too large to fall through</span>`
            : ''}
        <span title="The intercept that routed it here">${interceptLabel(exchange)}</span>
        <span class="muted">${formatTime(exchange.startedAt)}</span>
      </div>
      ${exchange.error === undefined ? null : html`<p class="error-line">${exchange.error}</p>`}
      <div class="actions">
        <button type="button" class="btn primary" disabled=${truncated} title=${truncated ? 'The body was larger than 64 KiB and not kept whole; use Edit and resend' : 'Send this request to your local app again'} onClick=${() => void run(requestOf(exchange, 'local'), false)}>Replay</button>
        <button type="button" class="btn" disabled=${truncated} title="Send it to the environment through the service's agent, without your routing header" onClick=${() => void run(requestOf(exchange, 'environment'), false)}>Replay to environment</button>
        <button type="button" class=${`btn ${editing ? 'active' : ''}`} onClick=${() => setEditing(!editing)}>Edit and resend</button>
        <${CopyButton} label="Copy as cURL" title="A curl command for your local app (secrets included)" text=${() => toCurl(exchange, localOrigin ?? `http://${exchange.authority ?? 'localhost'}`)} />
      </div>
    </header>
    ${editing ? html`<${ReplayEditor} exchange=${exchange} onSend=${(request: ReplayRequest) => void run(request, true)} />` : null}
    ${runs.length > 0 ? html`<${Comparison} exchange=${exchange} runs=${runs} />` : null}
    ${grpc === undefined
      ? null
      : html`<div class="grpc card-inline">
          <span class="tag">gRPC</span>
          <span><span class="muted">service</span> ${grpc.service}</span>
          <span><span class="muted">method</span> ${grpc.method}</span>
          ${grpc.status === undefined ? null : html`<span class=${grpc.status.code === 0 ? 'ok' : 'bad'}>${grpc.status.name} (${grpc.status.code})${grpc.status.message === undefined ? '' : `: ${grpc.status.message}`}</span>`}
        </div>`}
    <nav class="subtabs">
      <button type="button" class=${tab === 'request' ? 'on' : ''} onClick=${() => setTab('request')}>Request</button>
      <button type="button" class=${tab === 'response' ? 'on' : ''} onClick=${() => setTab('response')}>Response</button>
    </nav>
    ${tab === 'request'
      ? html`<div class="panes">
          <h4>${grpc === undefined ? 'Headers' : 'Metadata'}</h4>
          <${FieldsTable} fields=${exchange.requestHeaders} />
          <h4>Body</h4>
          <${BodyView} body=${exchange.requestBody} headers=${exchange.requestHeaders} />
          ${exchange.requestTrailers === undefined ? null : html`<h4>Trailers</h4><${FieldsTable} fields=${exchange.requestTrailers} />`}
        </div>`
      : html`<div class="panes">
          <h4>Headers</h4>
          <${FieldsTable} fields=${exchange.responseHeaders} empty=${exchange.state === 'pending' ? 'waiting for the answer…' : 'none'} />
          <h4>Body</h4>
          <${BodyView} body=${exchange.responseBody} headers=${exchange.responseHeaders} />
          ${exchange.responseTrailers === undefined ? null : html`<h4>Trailers</h4><${FieldsTable} fields=${exchange.responseTrailers} />`}
        </div>`}
  </section>`;
}

/** The original answer beside each replay's, newest replay first. */
function Comparison({ exchange, runs }: { exchange: CapturedExchange; runs: ReplayRun[] }): View {
  return html`<div class="comparison">
    <div class="answer original">
      <div class="answer-head"><strong>Original</strong><${StatusBadge} status=${exchange.status} state=${exchange.state} /><span>${formatDuration(exchange.durationMs)}</span></div>
      <${BodyView} body=${exchange.responseBody} headers=${exchange.responseHeaders} />
    </div>
    ${runs.map(
      (run) => html`<div class="answer replay" data-target=${run.target}>
        <div class="answer-head">
          <strong>${run.target === 'local' ? 'Replay · laptop' : 'Replay · environment'}${run.edited ? ' (edited)' : ''}</strong>
          ${run.answer === undefined ? (run.error === undefined ? html`<span class="status s-pending">…</span>` : html`<span class="status s-err">failed</span>`) : html`<${StatusBadge} status=${run.answer.status} state="complete" />`}
          ${run.answer === undefined ? null : html`<span>${formatDuration(run.answer.durationMs)}</span>`}
        </div>
        ${run.error === undefined ? null : html`<p class="error-line">${run.error}</p>`}
        ${run.answer === undefined
          ? null
          : html`<p class="muted target">${run.request.method} ${run.answer.origin}${run.request.path}${run.answer.removedHeaders.length > 0 ? ` · without ${run.answer.removedHeaders.join(', ')}` : ''}</p>
              ${run.answer.note === undefined ? null : html`<p class="warn small">${run.answer.note}</p>`}
              <${BodyView} body=${run.answer.body} headers=${run.answer.headers} />
              <details><summary>Headers</summary><${FieldsTable} fields=${[...run.answer.headers, ...(run.answer.trailers ?? [])]} /></details>`}
      </div>`,
    )}
  </div>`;
}
