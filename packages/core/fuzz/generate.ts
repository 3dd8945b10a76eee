import type { Prng } from './prng.js';

/**
 * Generates request streams: one to three pipelined requests, mostly valid
 * (so that the acceptance paths are compared, not only the refusals), with the
 * known request-smuggling shapes (RFC 9112 §11.2) mixed in, then sometimes
 * mutated byte by byte and cut into pieces as a socket would deliver them.
 * Everything is latin1 text: one char is one byte.
 */
export interface FuzzCase {
  /** The bytes, as latin1. */
  input: string;
  /** Where the input is cut into reads (ascending offsets inside it). */
  cuts: number[];
}

const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'];
const ODD_METHODS = ['get', 'M-SEARCH', 'PURGE', 'QUERY', 'PROPFIND', 'SOURCE', 'CONNECT', 'PRI', 'FOO', 'G@T', 'GET\t', '', 'TRACE', 'LINK', 'MKCOL', 'REPORT'];
const TARGETS = ['/', '/a/b?x=1&y=2', '/index.html', '/api/v1/items/42', '*', 'http://h/x?y', 'https://h:443/', '/a#frag', '/?', '/%7e/%00'];
const ODD_TARGETS = ['h:443', '//x', '/\xe9', '/a\x7f', '/a"b', '/{}|\\^`', '/ /', '/a<b>', 'http:/x', 'http://[::1]/', 'h', '/\x80', "/'", '/[]'];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'];
const ODD_VERSIONS = ['HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.01', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', 'HTTP/1', 'HTTP/3.0', 'HTTP/1.9', ' HTTP/1.1', 'HTTP/1.1\t'];
const NAMES = ['Accept', 'User-Agent', 'X-Telepresence-Id', 'x-a', 'Cookie', 'X-Forwarded-For', 'Accept-Encoding', 'A', "x!#$%&'*+-.^_`|~1", 'Authorization', 'Keep-Alive', 'TE', 'Upgrade', 'Expect', 'Proxy-Connection'];
const VALUES = ['*/*', 'alice-3f9c0a', '', 'a, b, c', '"quoted, string"', '  padded  ', 'gzip;q=1.0', '\xe9t\xe9', 'tab\there', 'x=1; y=2', '100-continue', 'trailers', 'websocket', '5', 'a:b'];
const CONNECTIONS = ['keep-alive', 'close', 'Keep-Alive', 'CLOSE', 'x-a', 'upgrade', 'te', 'close, x-a', 'keep-alive, close', 'content-length', 'host', ',,keep-alive', 'transfer-encoding'];

/** Transfer-Encoding lines that smuggling attacks use to make two parsers disagree (TE.TE). */
const TE_OBFUSCATIONS = [
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: xchunked',
  'Transfer-Encoding : chunked',
  'Transfer-Encoding: chunked ',
  'Transfer-Encoding:\tchunked',
  'Transfer-Encoding:chunked',
  'Transfer-Encoding: x, chunked',
  'Transfer-Encoding: chunked, x',
  'Transfer-Encoding: identity',
  'Transfer-Encoding: CHUNKED',
  'Transfer-Encoding: chunked;x=1',
  'Transfer-Encoding: "chunked"',
  'Transfer-Encoding: ,chunked',
  'Transfer-Encoding: chunked,',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked\x00',
  'Transfer-Encoding: \x0bchunked',
  ' Transfer-Encoding: chunked',
  'Transfer-Encoding:\r\n chunked',
  'Transfer-Encoding: chunked\r\n x',
  'Transfer_Encoding: chunked',
  'Transfer-Encoding\x00: chunked',
  'TRANSFER-ENCODING: chunked',
  'Transfer-Encoding: chun ked',
  'Transfer-Encoding: chunked, chunked',
  'Transfer-Encoding: identity, chunked',
  'Transfer-Encoding: chunked\rX: y',
  'Transfer-Encoding: chunked\nX: y',
];

function contentLengthValue(rng: Prng, n: number): string {
  if (rng.chance(0.7)) return String(n);
  return rng.pick([
    `0${n}`, `+${n}`, `-${n}`, ` ${n} `, `${n}, ${n}`, `${n},${n}`, `${n} ${n}`, `0x${n.toString(16)}`, `${n}\x00`,
    `${n}.0`, '1e1', '99999999999999999999', '18446744073709551616', '1234567890123456', '123456789012345', '', `${n};`, `\t${n}`,
    `${n + 1}`, `${Math.max(0, n - 1)}`, `000000000000000${n}`,
  ]);
}

function chunkSizeLine(rng: Prng, n: number): string {
  const hex = n.toString(16);
  if (rng.chance(0.75)) return hex;
  return rng.pick([
    hex.toUpperCase(), `000${hex}`, `${hex};ext`, `${hex} ;ext`, `${hex};a="q\\"x"`, `${hex};a=`, `${hex};`, `+${hex}`,
    ` ${hex}`, `${hex} `, `0x${hex}`, `${hex}\x00`, `${hex};a=b c`, `${hex}\t`, `${hex};${'e'.repeat(rng.pick([100, 4090, 5000]))}`,
    `${hex};a=b;c`, `${hex} ; a = "b" `, `${hex};a="\x01"`, `${hex};a\x7f`, `-${hex}`, `${hex}g`, '', `${hex}; a=b`, `${hex};a="\xe9"`,
  ]);
}

/** Body bytes, sometimes shaped like a request so that a framing disagreement shows as a smuggled request. */
function payload(rng: Prng): string {
  switch (rng.int(5)) {
    case 0:
      return '';
    case 1:
      return 'GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';
    case 2:
      return '0\r\n\r\n';
    default: {
      const alphabet = 'abcxyz0189\r\n :;"\\\x00\xff';
      let s = '';
      const length = rng.pick([1, 3, 5, 16, 100, rng.int(300)]);
      for (let i = 0; i < length; i++) s += rng.chance(0.8) ? String.fromCharCode(0x61 + rng.int(26)) : alphabet[rng.int(alphabet.length)]!;
      return s;
    }
  }
}

function trailerLines(rng: Prng): string[] {
  const lines: string[] = [];
  const count = rng.chance(0.7) ? 0 : 1 + rng.int(2);
  for (let i = 0; i < count; i++) {
    lines.push(rng.chance(0.7) ? rng.pick(['X-Checksum: 42', 'Server-Timing: a;dur=1', 'X-T:1 ', 'Content-Length: 5']) : rng.pick(['x-t : 1', ' folded', 'X-T: a\rb', 'X-T: \x00', 'X-T', ': v', 'X-T: a\nb']));
  }
  return lines;
}

/** `data` as a chunked body (RFC 9112 §7.1), cut into random chunks, with the odd shapes mixed in. */
function chunkedBody(rng: Prng, data: string): string {
  let out = '';
  let at = 0;
  for (let guard = 0; at < data.length && guard < 16; guard++) {
    const size = guard === 15 ? data.length - at : Math.min(data.length - at, 1 + rng.int(Math.max(1, data.length)));
    const sizeLine = chunkSizeLine(rng, size);
    const dataEnd = rng.chance(0.93) ? '\r\n' : rng.pick(['\n', '\r', '', 'X\r\n', '\r\r\n']);
    out += `${sizeLine}\r\n${data.slice(at, at + size)}${dataEnd}`;
    at += size;
  }
  const last = rng.chance(0.85) ? '0' : rng.pick(['0;last', '00', '0 ', '0;a="b"', '000000']);
  return `${out}${last}\r\n${trailerLines(rng).map((l) => `${l}\r\n`).join('')}${rng.chance(0.97) ? '\r\n' : rng.pick(['\n', '', 'X'])}`;
}

interface Framing {
  lines: string[];
  body: string;
}

function framing(rng: Prng, method: string): Framing {
  const data = payload(rng);
  switch (rng.int(method === 'GET' ? 12 : 8)) {
    case 0:
    case 1:
      return { lines: [`Content-Length: ${contentLengthValue(rng, data.length)}`], body: data };
    case 2:
    case 3:
      return { lines: ['Transfer-Encoding: chunked'], body: chunkedBody(rng, data) };
    case 4: {
      // CL.TE and TE.CL: both framings present, in either order, each telling a different length.
      const cl = `Content-Length: ${contentLengthValue(rng, rng.chance(0.5) ? data.length : 4)}`;
      const te = rng.pick(TE_OBFUSCATIONS);
      return { lines: rng.chance(0.5) ? [cl, te] : [te, cl], body: chunkedBody(rng, data) };
    }
    case 5: {
      // TE.TE: a plain chunked line and an obfuscated one.
      const lines = ['Transfer-Encoding: chunked', rng.pick(TE_OBFUSCATIONS)];
      if (rng.chance(0.5)) lines.reverse();
      return { lines, body: chunkedBody(rng, data) };
    }
    case 6: {
      const te = rng.pick(TE_OBFUSCATIONS);
      return { lines: [te], body: rng.chance(0.7) ? chunkedBody(rng, data) : data };
    }
    case 7: {
      // Duplicate Content-Length, equal or not.
      const a = contentLengthValue(rng, data.length);
      const b = rng.chance(0.5) ? a : contentLengthValue(rng, rng.int(data.length + 2));
      return { lines: [`Content-Length: ${a}`, rng.chance(0.8) ? `Content-Length: ${b}` : `content-length:${b}`], body: data };
    }
    default:
      return { lines: [], body: '' };
  }
}

function headerLine(rng: Prng): string {
  const name = rng.chance(0.9) ? rng.pick(NAMES) : rng.pick(['X A', 'X-A ', 'X(a)', '', 'X\x00', 'X\xe9', 'X-\x7f', 'x\ty']);
  let value = rng.pick(VALUES);
  if (rng.chance(0.02)) value = 'v'.repeat(rng.pick([5000, 9000, 40000, 70000]));
  const separator = rng.chance(0.85) ? ': ' : rng.pick([':', ':\t', ' : ', '\t:', ':  ', ': \r\n ', '::']);
  if (rng.chance(0.05)) return `Connection: ${rng.pick(CONNECTIONS)}`;
  return `${name}${separator}${value}`;
}

function request(rng: Prng): string {
  const method = rng.chance(0.93) ? rng.pick(METHODS) : rng.pick(ODD_METHODS);
  const target = rng.chance(0.93) ? rng.pick(TARGETS) : rng.pick(ODD_TARGETS);
  const version = rng.chance(0.95) ? rng.pick(VERSIONS) : rng.pick(ODD_VERSIONS);
  const lines: string[] = [];
  if (rng.chance(0.93)) lines.push(rng.pick(['Host: h', 'Host: example.com:8080', 'host: h', 'Host:', 'Host: a b', 'HOST: [::1]:80']));
  if (rng.chance(0.04)) lines.push('Host: other');
  const extra = rng.int(4);
  for (let i = 0; i < extra; i++) lines.push(headerLine(rng));
  const { lines: framingLines, body } = framing(rng, method);
  for (const line of framingLines) lines.splice(rng.int(lines.length + 1), 0, line);
  if (rng.chance(0.05)) lines.push(rng.pick(['Connection: upgrade', 'Connection: Upgrade, keep-alive']));
  const leading = rng.chance(0.93) ? '' : rng.pick(['\r\n', '\r\n\r\n', '\n', '\r', ' ', '\x00']);
  const lineEnd = rng.chance(0.97) ? '\r\n' : rng.pick(['\n', '\r', ' \r\n']);
  return `${leading}${method} ${target} ${version}${lineEnd}${lines.map((l) => `${l}\r\n`).join('')}\r\n${body}`;
}

const INTERESTING = ['\r', '\n', '\r\n', ' ', '\t', '\x00', ':', ';', ',', '"', '\\', '=', '\x7f', '\x80', '\xff', '\x0b', '\x0c', '0', '9', 'a', 'F', '-', '+', '/', '?', '#', '%', '\r\n\r\n', '\r\n '];

/** One byte-level mutation of `s`. */
function mutate(rng: Prng, s: string): string {
  if (s.length === 0) return rng.pick(INTERESTING);
  const at = rng.int(s.length);
  switch (rng.int(7)) {
    case 0:
      return s.slice(0, at) + rng.pick(INTERESTING) + s.slice(at);
    case 1:
      return s.slice(0, at) + s.slice(at + 1 + rng.int(3));
    case 2:
      return s.slice(0, at) + rng.pick(INTERESTING) + s.slice(at + 1);
    case 3: {
      // Repeat a whole line: duplicate fields are where parsers differ.
      const start = s.lastIndexOf('\n', at) + 1;
      const end = s.indexOf('\n', at);
      if (end === -1) return s;
      return s.slice(0, end + 1) + s.slice(start, end + 1) + s.slice(end + 1);
    }
    case 4: {
      const crlf = s.indexOf('\r\n', at);
      if (crlf === -1) return s;
      return s.slice(0, crlf) + rng.pick(['\n', '\r', '\r\r\n', '\n\r']) + s.slice(crlf + 2);
    }
    case 5: {
      const colon = s.indexOf(':', at);
      if (colon === -1) return s;
      return s.slice(0, colon) + rng.pick([' ', '\t', '\x00']) + s.slice(colon);
    }
    default: {
      const c = s.charCodeAt(at);
      const flipped = c >= 0x41 && c <= 0x5a ? c | 0x20 : c >= 0x61 && c <= 0x7a ? c & ~0x20 : c ^ 0x01;
      return s.slice(0, at) + String.fromCharCode(flipped) + s.slice(at + 1);
    }
  }
}

/** The case a PRNG in a given state describes. */
export function generateCase(rng: Prng): FuzzCase {
  const count = rng.pick([1, 1, 2, 2, 3]);
  let input = '';
  for (let i = 0; i < count; i++) input += request(rng) + (rng.chance(0.05) ? '\r\n' : '');
  if (rng.chance(0.4)) {
    const mutations = 1 + rng.int(3);
    for (let i = 0; i < mutations; i++) input = mutate(rng, input);
  }
  if (rng.chance(0.08)) input = input.slice(0, rng.int(input.length + 1));
  const cuts: number[] = [];
  const pieces = rng.pick([1, 1, 2, 3]);
  for (let i = 1; i < pieces; i++) cuts.push(rng.int(input.length + 1));
  cuts.sort((a, b) => a - b);
  return { input, cuts };
}

/** The reads a socket would deliver for `c`. */
export function piecesOf(c: FuzzCase): Buffer[] {
  const bytes = Buffer.from(c.input, 'latin1');
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...c.cuts, bytes.length]) {
    if (cut > from) out.push(bytes.subarray(from, cut));
    from = Math.max(from, cut);
  }
  return out;
}
