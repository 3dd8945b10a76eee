/**
 * What a parser made of a request stream, in one shape for both parsers, so
 * that they can be compared field by field.
 */
export interface ParsedRequest {
  method: string;
  target: string;
  /** `HTTP/1.x` minor version. */
  minor: number;
  /** Field lines as `[name, value]` in order; names as sent, values trimmed of OWS. */
  headers: Array<[string, string]>;
  /** The body's content (de-chunked), latin1. */
  body: string;
  /** Trailer fields `[lower-case name, value]`. */
  trailers: Array<[string, string]>;
  /** Whether the whole message (head and body) was seen. */
  complete: boolean;
}

export type Outcome =
  /** Every byte went into complete requests. */
  | { kind: 'clean' }
  /** The input ended inside a request (head or body) that was fine so far. */
  | { kind: 'partial' }
  /** The parser refused request number `index` (0-based), which starts at input offset `at` when known. */
  | { kind: 'rejected'; index: number; at?: number; reason: string }
  /**
   * The connection does not carry further requests after request `index`
   * (it does not persist, RFC 9112 §9.3, or it switched protocols, RFC 9110
   * §7.8); what follows it is not HTTP/1.1 requests and is not compared.
   * `headOnly`: only the head of request `index` is compared (an upgrade).
   */
  | { kind: 'stopped'; index: number; headOnly: boolean };

export interface ParseResult {
  requests: ParsedRequest[];
  outcome: Outcome;
}
