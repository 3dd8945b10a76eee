import type { DashboardEvent, ReplayAnswer, ReplayRequest } from './model.js';

/** The daemon's answer to a call that failed: its one-line message. */
async function failure(response: Response): Promise<Error> {
  try {
    const body = (await response.json()) as { error?: { message?: string } };
    return new Error(body.error?.message ?? `the daemon answered ${response.status}`);
  } catch {
    return new Error(`the daemon answered ${response.status}`);
  }
}

export async function sendReplay(request: ReplayRequest): Promise<ReplayAnswer> {
  const response = await fetch('/api/replay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as ReplayAnswer;
}

export async function createPreview(intercept: string): Promise<void> {
  const response = await fetch('/api/previews', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ intercept }) });
  if (!response.ok) throw await failure(response);
}

/** `ref`: the preview's id, or its hint for one restored from a store. */
export async function removePreview(ref: string): Promise<void> {
  const response = await fetch(`/api/previews/${encodeURIComponent(ref)}`, { method: 'DELETE' });
  if (!response.ok) throw await failure(response);
}

export async function clearExchanges(): Promise<void> {
  const response = await fetch('/api/exchanges', { method: 'DELETE' });
  if (!response.ok) throw await failure(response);
}

/** The live feed; EventSource reconnects by itself, `onState` tells the header bar. */
export function subscribe(onEvent: (event: DashboardEvent) => void, onState: (live: boolean) => void): () => void {
  const source = new EventSource('/api/events');
  const handle = (message: MessageEvent<string>) => onEvent(JSON.parse(message.data) as DashboardEvent);
  for (const type of ['reset', 'exchange', 'dropped', 'environment', 'cleared']) source.addEventListener(type, handle as EventListener);
  source.onopen = () => onState(true);
  source.onerror = () => onState(false);
  return () => source.close();
}

/** Clipboard on 127.0.0.1 (a secure context), with the old selection trick where it is refused. */
export async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
}

export function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
