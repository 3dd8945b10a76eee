import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { FIELD_KIND } from '@detour/core';
import type { RequestHead } from '@detour/core';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE } from '@detour/protocol';

const CR = 0x0d;
const LF = 0x0a;

/**
 * Request fields that must not cross into HTTP/2 (RFC 9113 §8.2.2) or that the
 * relay sets itself. Hop-by-hop lines are already known from the parse.
 */
const NOT_RELAYED = new Set(['host', 'transfer-encoding', 'http2-settings', 'expect', RELAY_HEADER_INTERCEPT_ID]);

/**
 * The HTTP/2 request headers of a relayed request: the pseudo-headers from the
 * request line and Host, then the end-to-end fields lower-cased (RFC 9113
 * §8.2.1). `te: trailers` is the one TE value HTTP/2 allows (RFC 9113 §8.2.2).
 */
export function relayRequestHeaders(head: RequestHead, buf: Buffer, start: number, interceptId: string, fallbackAuthority: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {
    ':method': head.method,
    ':path': head.target,
    ':authority': head.host ?? fallbackAuthority,
    ':scheme': 'http',
  };
  const hop = head.hopByHop ?? [];
  let h = 0;
  let i = buf.indexOf(LF, start) + 1;
  while (i < head.end && buf[i] !== CR) {
    const lineEnd = buf.indexOf(LF, i) + 1;
    const colon = buf.indexOf(0x3a, i);
    const name = buf.toString('latin1', i, colon).toLowerCase();
    const value = fieldValue(buf, colon + 1, lineEnd - 2);
    const isHop = h < hop.length && hop[h] === i;
    if (isHop) h += 3;
    if (isHop ? hop[h - 1] === FIELD_KIND.TE && value.toLowerCase() === 'trailers' : !NOT_RELAYED.has(name)) {
      const previous = headers[name];
      if (previous === undefined) headers[name] = value;
      else if (Array.isArray(previous)) previous.push(value);
      else headers[name] = [String(previous), value];
    }
    i = lineEnd;
  }
  headers[RELAY_HEADER_INTERCEPT_ID] = interceptId;
  return headers;
}

/**
 * The request headers of an HTTP/1.1 Upgrade relayed as an extended CONNECT
 * (RFC 8441 §4): `:method CONNECT` and `:protocol` the first protocol the
 * client offered (RFC 9110 §7.8 lists them by preference), lower-cased as the
 * upgrade token registry spells them; the end-to-end fields (`sec-websocket-*`
 * included) as for any request. Returns undefined when no token can be read.
 */
export function relayUpgradeHeaders(head: RequestHead, buf: Buffer, start: number, interceptId: string, fallbackAuthority: string): OutgoingHttpHeaders | undefined {
  const hop = head.hopByHop ?? [];
  let token = '';
  for (let h = 0; h < hop.length; h += 3) {
    if (hop[h + 2] !== FIELD_KIND.UPGRADE) continue;
    const colon = buf.indexOf(0x3a, hop[h]!);
    const lineEnd = buf.indexOf(LF, colon);
    token = fieldValue(buf, colon + 1, lineEnd - 1).split(',')[0]!.trim().toLowerCase();
    break;
  }
  if (token === '') return undefined;
  const headers = relayRequestHeaders(head, buf, start, interceptId, fallbackAuthority);
  headers[':method'] = 'CONNECT';
  headers[':protocol'] = token;
  return headers;
}

function fieldValue(buf: Buffer, start: number, end: number): string {
  while (start < end && (buf[start] === 0x20 || buf[start] === 0x09)) start++;
  while (end > start && (buf[end - 1] === 0x20 || buf[end - 1] === 0x09)) end--;
  return buf.toString('latin1', start, end);
}

/** Response fields that are HTTP/1.1 framing or connection management, recomputed by the agent. */
const NOT_RETURNED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', RELAY_HEADER_OFFLINE]);

/** A control byte in a value would split the HTTP/1.1 response; HTTP/2 peers should never send one. */
const UNSAFE_VALUE = /[\0\r\n]/;

/** How the translated HTTP/1.1 response body is delimited. */
export type RelayFraming = 'none' | 'length' | 'chunked' | 'close';

/**
 * Translates an HTTP/2 response head into HTTP/1.1 for the client: the
 * Content-Length the relay gave if any, otherwise chunked for HTTP/1.1 clients
 * and close-delimited for HTTP/1.0 ones (RFC 9112 §6.3, §7). HEAD, 1xx, 204
 * and 304 have no body.
 */
export function relayResponseHead(
  headers: IncomingHttpHeaders,
  request: { method: string; minor: number; keepAlive: boolean },
): { head: Buffer; framing: RelayFraming; close: boolean } {
  const status = Number(headers[':status']);
  const noBody = request.method === 'HEAD' || status < 200 || status === 204 || status === 304;
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (name.charCodeAt(0) === 0x3a || NOT_RETURNED.has(name) || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (!UNSAFE_VALUE.test(v)) text += `${name}: ${v}\r\n`;
    }
  }
  const hasLength = headers['content-length'] !== undefined;
  const framing: RelayFraming = noBody ? 'none' : hasLength ? 'length' : request.minor === 1 ? 'chunked' : 'close';
  const close = !request.keepAlive || framing === 'close';
  if (framing === 'chunked') text += 'transfer-encoding: chunked\r\n';
  if (close) text += 'connection: close\r\n';
  else if (request.minor === 0) text += 'connection: keep-alive\r\n';
  return { head: Buffer.from(`${text}\r\n`, 'latin1'), framing, close };
}

/** The last chunk of a chunked body with the relay's trailers (RFC 9112 §7.1.2). */
export function lastChunk(trailers: IncomingHttpHeaders | undefined): Buffer {
  let text = '0\r\n';
  for (const [name, value] of Object.entries(trailers ?? {})) {
    if (name.charCodeAt(0) === 0x3a || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) if (!UNSAFE_VALUE.test(v)) text += `${name}: ${v}\r\n`;
  }
  return Buffer.from(`${text}\r\n`, 'latin1');
}
