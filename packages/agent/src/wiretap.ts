import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { RouteTable, targetPath } from '@detour/core';
import type { RequestHead, RoutingKeyVerifier } from '@detour/core';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_UPSTREAM_PROTOCOL, RELAY_OWNED_HEADERS } from '@detour/protocol';
import { forwardableHeaders } from '@detour/transport';
import type { Intercept } from '@detour/protocol';
import type { ManagerLink } from './manager-link.js';

const { NGHTTP2_CANCEL } = http2.constants;

/** Names a caller must not smuggle towards the developer: the relay sets them itself. */
const RELAY_OWNED: ReadonlySet<string> = new Set(RELAY_OWNED_HEADERS);

/**
 * Set on every copy a wiretap sends, `app-status=N`: what the caller actually
 * got, so the developer's dashboard can show it beside the local answer.
 */
export const WIRETAP_HEADER = 'detour-wiretap';

/** Tunables of `--mode wiretap`, with units. */
export const WIRETAP_DEFAULTS = {
  /** A request whose body is larger is not copied (counted as dropped): copies never grow the agent's memory much. */
  maxCopyBodyBytes: 64 * 1024,
  /** Copies on their way to one wiretap at once; past this the laptop is slow or away, and new copies are dropped. */
  maxInFlightPerWiretap: 8,
  /** A copy the laptop has not answered in this time is cancelled (counted as dropped). */
  copyTimeoutMs: 5_000,
} as const;

const NO_HEADERS: ReadonlyMap<string, readonly string[]> = new Map();

/** The rule set's wiretaps, compiled: each matched on its own, since several may copy the same request. */
export class WiretapSet {
  /** Lower-case names of the headers some wiretap reads (the HTTP/1.1 parser must capture them). */
  readonly headerNames: ReadonlySet<string>;
  readonly #tables: ReadonlyArray<{ intercept: Intercept; table: RouteTable }>;

  /** `verifier`: the router's, so that a wiretap on one's own signed value (`--signed-keys`) is checked like an intercept. */
  constructor(wiretaps: readonly Intercept[], verifier?: RoutingKeyVerifier) {
    this.#tables = wiretaps.map((intercept) => ({ intercept, table: new RouteTable([intercept], verifier) }));
    this.headerNames = new Set(this.#tables.flatMap(({ table }) => [...table.headerNames]));
  }

  /** Every wiretap whose matchers the request meets, or undefined for none. */
  matching(target: string, headers: ReadonlyMap<string, readonly string[]> | undefined): Intercept[] | undefined {
    let found: Intercept[] | undefined;
    const input = { path: targetPath(target), headers: headers ?? NO_HEADERS };
    for (const { intercept, table } of this.#tables) if (table.match(input) !== undefined) (found ??= []).push(intercept);
    return found;
  }

  /** The same for an HTTP/2 stream, from node's raw field list `[name, value, …]` (lower-case names). */
  matchingStream(path: string, rawHeaders: readonly string[]): Intercept[] | undefined {
    const headers = new Map<string, string[]>();
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (!this.headerNames.has(name)) continue;
      const values = headers.get(name);
      if (values === undefined) headers.set(name, [rawHeaders[i + 1]!]);
      else values.push(rawHeaders[i + 1]!);
    }
    return this.matching(path, headers);
  }
}

/** What is counted, for `detour_agent_wiretap_copies_total`. */
export interface WiretapCounts {
  sent: number;
  /** Not sent or not answered: laptop offline, slow (too many in flight, timed out), link down, body over the bound. */
  dropped: number;
}

/**
 * Sends wiretap copies to laptops, each on its own CONNECT stream through the
 * manager (as an intercepted HTTP/1.1 request travels), with the caller's
 * request as it arrived, `detour-wiretap: app-status=N` added. Nothing here
 * is ever waited on by a caller: a copy leaves only once the real answer's
 * status is known, and whatever happens to it is only counted.
 */
export class WiretapSender {
  readonly counts: WiretapCounts = { sent: 0, dropped: 0 };
  readonly #link: ManagerLink;
  readonly #authority: string;
  readonly #inFlight = new Map<string, number>();

  constructor(link: ManagerLink, service: string, appPort: number) {
    this.#link = link;
    this.#authority = `${service}:${appPort}`;
  }

  /** A copy of one HTTP/1.1 request for `wiretaps`, or undefined when it cannot be copied (upgrade, body over the bound). */
  copy(wiretaps: readonly Intercept[], head: RequestHead, buf: Buffer, start: number): HttpCopy | undefined {
    if (head.upgrade || head.contentLength > WIRETAP_DEFAULTS.maxCopyBodyBytes) {
      this.counts.dropped += wiretaps.length;
      return undefined;
    }
    return new HttpCopy(this, wiretaps, Buffer.from(buf.subarray(start, head.end)), !head.chunked && head.contentLength <= 0);
  }

  /**
   * Copies an HTTP/2 (gRPC) stream the app answers: its body (within the
   * bound) is read beside the real forwarding, and the copy leaves when the
   * real stream has closed, as a relayed HTTP/2 request (the daemon speaks
   * HTTP/2 to the local app), with the status the caller got.
   */
  copyStream(wiretaps: readonly Intercept[], stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean): void {
    const declared = Number(headers['content-length'] ?? 0);
    if (declared > WIRETAP_DEFAULTS.maxCopyBodyBytes) {
      this.counts.dropped += wiretaps.length;
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    if (!requestEnded) {
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes <= WIRETAP_DEFAULTS.maxCopyBodyBytes) chunks.push(chunk);
      });
    }
    stream.once('close', () => {
      const status = Number(stream.sentHeaders[':status'] ?? 0);
      if (bytes > WIRETAP_DEFAULTS.maxCopyBodyBytes || status === 0 || !(requestEnded || stream.readableEnded)) {
        this.counts.dropped += wiretaps.length;
        return;
      }
      const out = forwardableHeaders(headers, RELAY_OWNED);
      out[RELAY_HEADER_UPSTREAM_PROTOCOL] = 'h2';
      out[WIRETAP_HEADER] = `app-status=${status}`;
      const body = Buffer.concat(chunks);
      for (const wiretap of this.#admit(wiretaps)) {
        const copy = this.#link.request({ ...out, [RELAY_HEADER_INTERCEPT_ID]: wiretap.id }, { endStream: body.length === 0 });
        if (copy === undefined) {
          this.#release(wiretap.id);
          this.counts.dropped++;
          continue;
        }
        this.#follow(copy, wiretap.id, body.length === 0 ? undefined : body);
      }
    });
  }

  /** @internal Sends one finished copy to each wiretap that can take it. */
  send(wiretaps: readonly Intercept[], request: Buffer): void {
    for (const wiretap of this.#admit(wiretaps)) {
      const stream = this.#link.request({ ':method': 'CONNECT', ':authority': this.#authority, [RELAY_HEADER_INTERCEPT_ID]: wiretap.id }, { endStream: false });
      if (stream === undefined) {
        this.#release(wiretap.id);
        this.counts.dropped++;
        continue;
      }
      this.#follow(stream, wiretap.id, request);
    }
  }

  /** The wiretaps that can take one more copy now, each counted in flight; the others' copies are dropped. */
  #admit(wiretaps: readonly Intercept[]): Intercept[] {
    const admitted: Intercept[] = [];
    for (const wiretap of wiretaps) {
      const inFlight = this.#inFlight.get(wiretap.id) ?? 0;
      if (!wiretap.online || inFlight >= WIRETAP_DEFAULTS.maxInFlightPerWiretap) {
        this.counts.dropped++;
        continue;
      }
      this.#inFlight.set(wiretap.id, inFlight + 1);
      admitted.push(wiretap);
    }
    return admitted;
  }

  #release(wiretapId: string): void {
    const left = (this.#inFlight.get(wiretapId) ?? 1) - 1;
    if (left === 0) this.#inFlight.delete(wiretapId);
    else this.#inFlight.set(wiretapId, left);
  }

  #follow(stream: ClientHttp2Stream, wiretapId: string, request: Buffer | undefined): void {
    let answered = false;
    const timer = setTimeout(() => stream.close(NGHTTP2_CANCEL), WIRETAP_DEFAULTS.copyTimeoutMs);
    timer.unref();
    stream.on('error', () => undefined); // 'close' follows and counts
    const tunnel = request !== undefined && stream.sentHeaders[':method'] === 'CONNECT';
    stream.on('response', (headers) => {
      // A relay's refusal (the developer is gone); for a CONNECT tunnel, anything but 200 is one.
      if (headers['detour-offline'] !== undefined || (tunnel && Number(headers[':status']) !== 200)) stream.close(NGHTTP2_CANCEL);
      else if (!tunnel) answered = true;
    });
    stream.on('data', () => {
      answered = true; // the laptop's answer is discarded: only that it came counts
    });
    stream.once('close', () => {
      clearTimeout(timer);
      this.#release(wiretapId);
      if (answered) this.counts.sent++;
      else this.counts.dropped++;
    });
    // The request, then FIN (a tunnel: the local app answers and closes, one request per copy stream).
    if (request === undefined) stream.resume();
    else stream.end(request);
  }
}

/**
 * One request being copied: its body is kept (within the bound, checked by the
 * sender up front for Content-Length, here for chunked) as the real exchange
 * consumes it, and the copy leaves once the request ended and the real answer's
 * status is known.
 */
export class HttpCopy {
  readonly #sender: WiretapSender;
  readonly #wiretaps: readonly Intercept[];
  readonly #head: Buffer;
  #body: Buffer[] | undefined = [];
  #bodyBytes = 0;
  #ended: boolean;
  #status: number | undefined;
  #sent = false;

  constructor(sender: WiretapSender, wiretaps: readonly Intercept[], head: Buffer, ended: boolean) {
    this.#sender = sender;
    this.#wiretaps = wiretaps;
    this.#head = head;
    this.#ended = ended;
  }

  /** Request body bytes as the exchange consumed them (copied: the caller's buffer is reused). */
  body(bytes: Buffer, requestDone: boolean): void {
    if (this.#body !== undefined) {
      this.#bodyBytes += bytes.length;
      if (this.#bodyBytes > WIRETAP_DEFAULTS.maxCopyBodyBytes) this.#body = undefined;
      else this.#body.push(Buffer.from(bytes));
    }
    if (requestDone) {
      this.#ended = true;
      this.#maybeSend();
    }
  }

  /** The real answer's status (the app's, or whoever answered the caller). */
  answered(status: number): void {
    if (this.#status !== undefined) return;
    this.#status = status;
    this.#maybeSend();
  }

  #maybeSend(): void {
    if (this.#sent || !this.#ended || this.#status === undefined) return;
    this.#sent = true;
    const body = this.#body;
    this.#body = undefined;
    if (body === undefined) {
      this.#sender.counts.dropped += this.#wiretaps.length;
      return;
    }
    // The head without its final CRLF, our line, then the CRLF that ends the head.
    const head = this.#head;
    const line = Buffer.from(`${WIRETAP_HEADER}: app-status=${this.#status}\r\n\r\n`, 'latin1');
    this.#sender.send(this.#wiretaps, Buffer.concat([head.subarray(0, head.length - 2), line, ...body]));
  }
}
