/**
 * Where detour's parser and llhttp (Node's, strict mode) are allowed to
 * disagree. Each entry is deliberate and cites the rule that makes it so; the
 * fuzzer reports any other disagreement as a difference.
 */
export interface Deviation {
  id: string;
  /** The section of RFC 9110/9112 (or the agent's own policy) behind it. */
  rfc: string;
  why: string;
  /** detour refuses a request llhttp accepts: matched on detour's reason. */
  detourRefuses?: RegExp;
  /** llhttp refuses a request detour accepts: matched on llhttp's reason. */
  llhttpRefuses?: RegExp;
  /** Narrows `detourRefuses` to requests whose first line (from where detour's request starts) passes. */
  firstLine?: (line: string) => boolean;
}

export const DEVIATIONS: readonly Deviation[] = [
  {
    id: 'host',
    rfc: 'RFC 9112 §3.2',
    why: 'A server MUST answer 400 to an HTTP/1.1 request without Host or with more than one Host line; llhttp does not look, and Node checks only that one is present, and only on requests it does not hand to an upgrade listener.',
    detourRefuses: /^(repeated Host|missing Host)$/,
  },
  {
    id: 'te-in-http10',
    rfc: 'RFC 9112 §6.1',
    why: 'Transfer-Encoding in an HTTP/1.0 message MUST be treated as faulty framing (an HTTP/1.0 hop could not have sent it); llhttp decodes the chunks.',
    detourRefuses: /^Transfer-Encoding in an HTTP\/1\.0 request$/,
  },
  {
    id: 'length-digits',
    rfc: 'RFC 9110 §8.6, RFC 9112 §7.1',
    why: 'A recipient must not let a large length overflow; detour keeps lengths and chunk sizes below 2^53 so they stay exact numbers, llhttp goes to 2^64.',
    detourRefuses: /^(Content-Length too large|chunk size too large)$/,
  },
  {
    id: 'connection-lists-framing',
    rfc: 'RFC 9110 §7.6.1',
    why: 'A proxy removes the fields a Connection option names; naming Content-Length, Transfer-Encoding or Host would make it strip the framing or routing of the request, so detour refuses.',
    detourRefuses: /^Connection must not list (content-length|transfer-encoding|host)$/,
  },
  {
    id: 'chunk-line-length',
    rfc: 'RFC 9112 §7.1.1',
    why: 'A server ought to limit the length of chunk extensions; detour refuses a chunk-size line over 4 KiB, Node bounds the extensions of a whole message at 16 KiB.',
    detourRefuses: /^chunk size line too long$/,
  },
  {
    id: 'chunk-extension-syntax',
    rfc: 'RFC 9112 §7.1.1',
    why: 'chunk-ext-name is a token and chunk-ext-val a token or quoted-string, neither empty; llhttp takes ";=b" and ";a=", detour refuses them.',
    detourRefuses: /^invalid chunk extension (name|value)$/,
  },
  {
    id: 'lone-cr-lf-before-request',
    rfc: 'RFC 9112 §2.2',
    why: 'Only empty lines (CRLF) before a request line are to be ignored; llhttp skips a lone CR or LF there too, detour refuses it as a bare CR or LF.',
    detourRefuses: /^(bare LF in head|invalid method)$/,
    firstLine: (line) => line.startsWith('\r') || line.startsWith('\n'),
  },
  {
    id: 'request-line-spaces',
    rfc: 'RFC 9112 §3',
    why: 'request-line = method SP request-target SP HTTP-version; parsing on runs of whitespace is only a MAY, and a second space is where two parsers start to read different targets. llhttp skips extra spaces.',
    detourRefuses: /^(invalid request-target|unsupported or malformed HTTP version)$/,
    firstLine: (line) => /^[^ ]* {2}|^[^ ]* [^ ]* {2}/.test(line),
  },
  {
    id: 'asterisk-form',
    rfc: 'RFC 9112 §3.2.4',
    why: 'asterisk-form is the single byte "*"; llhttp takes any target that starts with one ("*-", "**").',
    detourRefuses: /^invalid request-target$/,
    firstLine: (line) => /^[^ ]+ \*[^ ]/.test(line),
  },
  {
    id: 'empty-authority',
    rfc: 'RFC 9110 §4.2.1',
    why: 'An http(s) URI with an empty host is invalid and a recipient MUST reject it; llhttp takes "http://" as a target.',
    detourRefuses: /^empty authority in request-target$/,
  },
  {
    id: 'connect',
    rfc: 'agent policy (RFC 9110 §9.3.6)',
    why: 'The agent is a reverse proxy for one app and does not tunnel; every CONNECT gets a 400 from the agent, whatever else is wrong with it (Node checks no Host on CONNECT).',
    detourRefuses: /./,
    firstLine: (line) => line.startsWith('CONNECT '),
  },
  {
    id: 'version',
    rfc: 'RFC 9112 §2.3, RFC 9110 §15.6.6',
    why: 'detour speaks HTTP/1.0 and HTTP/1.1 only and refuses other versions outright; llhttp also parses 2.0 request lines.',
    detourRefuses: /^unsupported or malformed HTTP version$/,
  },
  {
    id: 'http09',
    rfc: 'RFC 9112 §2.3, Appendix C.1',
    why: 'A request line without a version ("GET /", ended by CRLF or LF) is HTTP/0.9, which has no headers and no framing; detour refuses it, llhttp parses it.',
    detourRefuses: /^(missing HTTP version|bare LF in head)$/,
    firstLine: (line) => /^[^ \r\n]+ [^ \r\n]+\r?$/.test(line),
  },
  {
    id: 'transfer-coding-syntax',
    rfc: 'RFC 9112 §6.1, §6.3, §7',
    why: 'A Transfer-Encoding field that is present but names no coding ("Transfer-Encoding:"), gives chunked parameters (it has none), or has anything but SP after chunked leaves the framing in doubt, so detour answers 400 where llhttp reads past it (it takes "chunked\\t" for another coding and then honours a later "chunked" line).',
    detourRefuses: /^(final transfer coding of a request must be chunked|chunked transfer coding takes no parameters|chunked is not the final transfer coding)$/,
  },
  {
    id: 'list-syntax',
    rfc: 'RFC 9110 §5.6.1, §7.6.1; RFC 9112 §6.1',
    why: 'Transfer-Encoding and Connection are lists of tokens; detour refuses an element that is not one ("\"x\"", "a=b", "x y") rather than guess the framing or which fields it names, where llhttp skips it.',
    detourRefuses: /^invalid list element in header value$/,
  },
  {
    id: 'extension-method',
    rfc: 'RFC 9110 §9.1, §16.1',
    why: 'Methods are an extensible token; a proxy forwards one it does not know and lets the origin answer 501. llhttp only parses the methods in its table. detour is laxer here, on purpose: the request line still ends at the same CRLF, so framing is not in question.',
    // PRI is llhttp's start of the HTTP/2 preface (RFC 9113 §3.4); the agent sniffs that before the codec.
    llhttpRefuses: /^(HPE_INVALID_METHOD|HPE_INVALID_VERSION: Expected HTTP\/2 Connection Preface)/,
  },
];
