import type { Preview, PreviewEntry, PreviewList } from '@detour/protocol';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DetourHome, PreviewAsk } from '@detour/daemon/client';
import type { Io, OutputFormat } from '../io.js';
import { formatTable, printJson, printLine } from '../io.js';
import { describeEntry, describeExpiry } from '../preview-flags.js';

export interface PreviewCreateOptions {
  intercept: string;
  entry?: PreviewEntry;
  ttlMs: number;
  output: OutputFormat;
}

/** Asks the daemon for a preview of one of its intercepts. */
export async function createPreview(home: DetourHome, ask: PreviewAsk): Promise<Preview> {
  const client = new DaemonClient(home);
  try {
    return await client.call<Preview>('POST', DAEMON_PATHS.previews, ask);
  } finally {
    await client.close();
  }
}

/** The lines `preview create` and `intercept --preview-url` print for a new preview. */
export function previewLines(preview: Preview, indent = ''): string[] {
  return [
    `${indent}Preview URL    : ${preview.url ?? '(shown at creation only)'}`,
    `${indent}Share link     : ${preview.shareUrl ?? '-'}`,
    `${indent}Entry          : ${describeEntry(preview.entry)}`,
    `${indent}Expires        : ${describeExpiry(preview.expiresAt)}`,
  ];
}

export async function previewCreateCommand(options: PreviewCreateOptions, io: Io, home: DetourHome): Promise<number> {
  const preview = await createPreview(home, { intercept: options.intercept, ttlMs: options.ttlMs, ...(options.entry === undefined ? {} : { entry: options.entry }) });
  if (options.output === 'json') {
    printJson(io, preview);
    return 0;
  }
  printLine(io, `Preview of intercept ${preview.interceptName} on ${preview.service}, as ${preview.owner}`);
  for (const line of previewLines(preview, '   ')) printLine(io, line);
  printLine(io, '   Anyone with the link reaches your version; `detour preview remove` or `detour leave` revokes it.');
  return 0;
}

export async function previewListCommand(output: OutputFormat, io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  let list: PreviewList;
  try {
    list = await client.call<PreviewList>('GET', DAEMON_PATHS.previews);
  } finally {
    await client.close();
  }
  if (output === 'json') {
    printJson(io, list);
    return 0;
  }
  if (list.previews.length === 0) {
    printLine(io, 'No previews: create one with `detour preview create INTERCEPT`.');
    return 0;
  }
  const rows = list.previews.map((p) => [p.id ?? `${p.hint}…`, p.interceptName, describeEntry(p.entry), describeExpiry(p.expiresAt), p.url ?? '(shown at creation only)']);
  printLine(io, formatTable(['ID', 'INTERCEPT', 'ENTRY', 'EXPIRES', 'URL'], rows));
  return 0;
}

export async function previewRemoveCommand(ref: string, io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  let removed: Preview;
  try {
    removed = await client.call<Preview>('DELETE', DAEMON_PATHS.preview(ref));
  } finally {
    await client.close();
  }
  printLine(io, `Removed preview ${removed.hint}… of intercept ${removed.interceptName}`);
  return 0;
}
