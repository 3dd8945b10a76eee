import { decodeBase64, fieldValue, textOf } from './body.js';
import { maskValue } from './masking.js';
import type { CapturedBody, CapturedExchange, Fields } from './model.js';

/** The subset of HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/) the inspector writes. */
export interface Har {
  log: {
    version: '1.2';
    creator: { name: string; version: string };
    entries: HarEntry[];
  };
}

interface HarNameValue {
  name: string;
  value: string;
}

interface HarEntry {
  startedDateTime: string;
  time: number;
  request: {
    method: string;
    url: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    queryString: HarNameValue[];
    postData?: { mimeType: string; text: string; encoding?: 'base64' };
    headersSize: -1;
    bodySize: number;
  };
  response: {
    status: number;
    statusText: string;
    httpVersion: string;
    cookies: HarNameValue[];
    headers: HarNameValue[];
    content: { size: number; mimeType: string; text?: string; encoding?: 'base64'; comment?: string };
    redirectURL: string;
    headersSize: -1;
    bodySize: number;
  };
  cache: Record<string, never>;
  timings: { send: number; wait: number; receive: number };
  comment?: string;
}

export interface HarOptions {
  /** Put secrets (Authorization, Cookie, Set-Cookie) in as sent; otherwise masked as the inspector shows them. */
  revealSecrets: boolean;
  creatorVersion: string;
}

function headersOf(fields: Fields | undefined, reveal: boolean): HarNameValue[] {
  return (fields ?? []).map(([name, value]) => ({ name, value: reveal ? value : maskValue(name, value) }));
}

function cookiesOf(header: string | undefined, reveal: boolean): HarNameValue[] {
  if (header === undefined) return [];
  return header.split(';').flatMap((pair) => {
    const eq = pair.indexOf('=');
    if (eq === -1) return [];
    return [{ name: pair.slice(0, eq).trim(), value: reveal ? pair.slice(eq + 1).trim() : '••••••' }];
  });
}

function queryOf(url: URL): HarNameValue[] {
  return [...url.searchParams].map(([name, value]) => ({ name, value }));
}

/** A body as HAR text: plain when it is text, else base64 (HAR 1.2 `encoding`). */
function bodyText(body: CapturedBody): { text: string; encoding?: 'base64' } {
  const text = textOf(decodeBase64(body.base64), body.truncated);
  return text === undefined ? { text: body.base64, encoding: 'base64' } : { text };
}

function versionOf(exchange: CapturedExchange): string {
  return exchange.protocol === 'http/1.1' ? 'HTTP/1.1' : 'HTTP/2';
}

/** The given exchanges (what the inspector shows, filter applied) as a HAR 1.2 log, oldest first as HAR viewers expect. */
export function toHar(exchanges: readonly CapturedExchange[], options: HarOptions): Har {
  const entries = [...exchanges].sort((a, b) => a.id - b.id).map((exchange) => harEntry(exchange, options.revealSecrets));
  return { log: { version: '1.2', creator: { name: 'detour', version: options.creatorVersion }, entries } };
}

function harEntry(exchange: CapturedExchange, reveal: boolean): HarEntry {
  const authority = exchange.authority ?? fieldValue(exchange.requestHeaders, 'host') ?? 'localhost';
  const url = new URL(exchange.path.startsWith('/') ? exchange.path : `/${exchange.path}`, `http://${authority}`);
  const requestType = fieldValue(exchange.requestHeaders, 'content-type') ?? 'application/octet-stream';
  const responseType = fieldValue(exchange.responseHeaders, 'content-type') ?? '';
  const truncated = [exchange.requestBody.truncated ? 'request body truncated' : '', exchange.responseBody?.truncated === true ? 'response body truncated' : ''].filter(Boolean);
  const responseBody = exchange.responseBody;
  const entry: HarEntry = {
    startedDateTime: new Date(exchange.startedAt).toISOString(),
    time: exchange.durationMs ?? 0,
    request: {
      method: exchange.method,
      url: url.href,
      httpVersion: versionOf(exchange),
      cookies: cookiesOf(fieldValue(exchange.requestHeaders, 'cookie'), reveal),
      headers: headersOf(exchange.requestHeaders, reveal),
      queryString: queryOf(url),
      ...(exchange.requestBody.bytes === 0 ? {} : { postData: { mimeType: requestType, ...bodyText(exchange.requestBody) } }),
      headersSize: -1,
      bodySize: exchange.requestBody.bytes,
    },
    response: {
      status: exchange.status ?? 0,
      statusText: '',
      httpVersion: versionOf(exchange),
      cookies: (exchange.responseHeaders ?? []).filter(([n]) => n === 'set-cookie').flatMap(([, v]) => cookiesOf(v.split(';')[0], reveal)),
      headers: headersOf([...(exchange.responseHeaders ?? []), ...(exchange.responseTrailers ?? [])], reveal),
      content: {
        size: responseBody?.bytes ?? 0,
        mimeType: responseType,
        ...(responseBody === undefined || responseBody.bytes === 0 ? {} : bodyText(responseBody)),
      },
      redirectURL: fieldValue(exchange.responseHeaders, 'location') ?? '',
      headersSize: -1,
      bodySize: responseBody?.bytes ?? -1,
    },
    cache: {},
    timings: { send: 0, wait: exchange.durationMs ?? 0, receive: 0 },
  };
  const comments = [...truncated, exchange.error === undefined ? '' : `error: ${exchange.error}`].filter(Boolean);
  if (comments.length > 0) entry.comment = `${comments.join('; ')} (the inspector keeps the first 64 KiB of each body)`;
  return entry;
}
