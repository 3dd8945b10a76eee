import { decodeBase64 } from './body.js';
import type { CapturedExchange } from './model.js';

/** Fields curl sets itself from the command line, or that describe the hop rather than the request. */
const CURL_OWNED: ReadonlySet<string> = new Set(['content-length', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'host']);

/** POSIX single quotes: nothing inside is special but the quote itself. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** ANSI-C quoting ($'…', bash and zsh) for bytes that are not printable text. */
function ansiQuote(bytes: Uint8Array): string {
  let out = "$'";
  for (const b of bytes) {
    if (b === 0x27) out += "\\'";
    else if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}

function isPlainText(bytes: Uint8Array): boolean {
  for (const b of bytes) if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b >= 0x7f) return false;
  return true;
}

/**
 * A curl command that sends the exchange's request to `origin` (e.g. the local
 * app, `http://127.0.0.1:8080`) with its method, target, headers (real values:
 * copying is an explicit choice) and the captured body. HTTP/2 and gRPC use
 * prior knowledge, as the daemon does towards the local app.
 */
export function toCurl(exchange: Pick<CapturedExchange, 'method' | 'path' | 'protocol' | 'requestHeaders' | 'requestBody' | 'authority'>, origin: string): string {
  const parts = ['curl'];
  if (exchange.protocol !== 'http/1.1') parts.push('--http2-prior-knowledge');
  const bytes = decodeBase64(exchange.requestBody.base64);
  const defaultMethod = bytes.length > 0 ? 'POST' : 'GET';
  if (exchange.method !== defaultMethod) parts.push('-X', shellQuote(exchange.method));
  parts.push(shellQuote(`${origin.replace(/\/+$/, '')}${exchange.path}`));
  for (const [name, value] of exchange.requestHeaders) {
    if (CURL_OWNED.has(name)) continue;
    parts.push('-H', shellQuote(`${name}: ${value}`));
  }
  if (bytes.length > 0) {
    parts.push('--data-binary', isPlainText(bytes) ? shellQuote(new TextDecoder().decode(bytes)) : ansiQuote(bytes));
  }
  return parts.join(' ');
}
