import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import type { ParseResult, ParsedRequest } from './parsed.js';

/** What one connection of the oracle saw. */
interface Connection {
  requests: ParsedRequest[];
  /** The message objects of `requests`: their `complete` is set synchronously by the parser, their 'end' event later. */
  messages: IncomingMessage[];
  /** The llhttp error code (`HPE_*`) and reason, with the index of the request it ended. */
  error: { index: number; reason: string } | undefined;
  /** Node's own refusal of a request llhttp parsed (see `requireHostHeader` below). */
  refused: { index: number; reason: string } | undefined;
  /** Bumped on every event, to tell when the connection has gone quiet. */
  events: number;
}

/**
 * The reference parser: Node's own `node:http` server, whose parser is llhttp,
 * in its default strict mode (`insecureHTTPParser: false`, set explicitly so
 * that `NODE_OPTIONS=--insecure-http-parser` cannot turn it lenient).
 *
 * Each case is one connection, handed to the server with `emit('connection')`
 * as an in-memory `Duplex` instead of a TCP socket: the server runs its usual
 * path (connection listener, `parser.execute` per read, request, body and
 * trailer events, `clientError`), but every read arrives exactly as the case
 * cuts it (a kernel may merge or split TCP segments), no port or file
 * descriptor is used, and thousands of connections a second cost no syscalls.
 * Nothing that decides a parse differs from a socket: llhttp sees the same
 * bytes in the same reads with the same flags.
 */
export class LlhttpOracle {
  readonly #server: http.Server;
  readonly #connections = new WeakMap<object, Connection>();

  constructor(maxHeaderSize: number) {
    // requireHostHeader is Node's default (true); it is applied in #request
    // instead, so that a refused request still has a place in the list and the
    // requests after it line up with detour's.
    this.#server = http.createServer({ insecureHTTPParser: false, maxHeaderSize, requireHostHeader: false });
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.#request(req, res);
    this.#server.on('request', onRequest);
    // With these listeners Node neither answers 100 nor 417 itself; the request is just a request.
    this.#server.on('checkContinue', onRequest);
    this.#server.on('checkExpectation', onRequest);
    // CONNECT and upgrade requests end HTTP/1.1 on the connection: llhttp stops after
    // the head and Node hands the rest of the bytes, unparsed, to these listeners.
    const onTunnel = (req: IncomingMessage, socket: Duplex): void => {
      const conn = this.#connections.get(socket);
      if (conn === undefined) return;
      conn.requests.push({ ...headOf(req), complete: true });
      conn.messages.push(req);
      conn.events++;
    };
    this.#server.on('connect', onTunnel);
    this.#server.on('upgrade', onTunnel);
    this.#server.on('clientError', (err: Error & { code?: string; reason?: string }, socket: Duplex) => {
      const conn = this.#connections.get(socket);
      if (conn !== undefined && conn.error === undefined) {
        // An error in the bytes after a complete message belongs to the next request,
        // even when that message's 'end' event has not been emitted yet.
        const last = conn.messages.at(-1);
        const index = last !== undefined && !last.complete ? conn.requests.length - 1 : conn.requests.length;
        conn.error = { index, reason: `${err.code ?? 'error'}: ${err.reason ?? err.message}` };
        conn.events++;
      }
      // Not destroyed yet: the messages parsed before the error still emit their body and end.
    });
  }

  /** Parses each case on its own connection, all at once; results in the same order. */
  async parseAll(cases: ReadonlyArray<readonly Buffer[]>): Promise<ParseResult[]> {
    const conns = cases.map((pieces) => this.#open(pieces));
    let last = -1;
    // Every parse step runs within the reads themselves or on process.nextTick;
    // the connections are quiet once a whole turn of the event loop changes nothing.
    for (let turn = 0; turn < 50; turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const events = conns.reduce((sum, c) => sum + c.conn.events, 0);
      if (events === last) break;
      last = events;
    }
    return conns.map(({ conn, socket }) => {
      socket.destroy();
      return resultOf(conn);
    });
  }

  close(): void {
    this.#server.close();
  }

  #open(pieces: readonly Buffer[]): { conn: Connection; socket: Duplex } {
    const conn: Connection = { requests: [], messages: [], error: undefined, refused: undefined, events: 0 };
    const socket = new Duplex({
      read() {},
      write(_chunk, _encoding, callback) {
        callback();
      },
    });
    this.#connections.set(socket, conn);
    this.#server.emit('connection', socket);
    for (const piece of pieces) socket.push(piece);
    // The end of input makes Node call llhttp_finish, which reports a message cut short.
    socket.push(null);
    return { conn, socket };
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.#connections.get(req.socket);
    if (conn === undefined) return;
    const request: ParsedRequest = { ...headOf(req), complete: false };
    conn.requests.push(request);
    conn.messages.push(req);
    conn.events++;
    // Node's default requireHostHeader (RFC 9112 §3.2): an HTTP/1.1 request without Host gets a 400.
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined && conn.refused === undefined) {
      conn.refused = { index: conn.requests.length - 1, reason: 'node:http requireHostHeader: missing Host' };
    }
    req.on('data', (chunk: Buffer) => {
      request.body += chunk.toString('latin1');
      conn.events++;
    });
    req.on('end', () => {
      conn.events++;
      res.end();
    });
  }
}

function headOf(req: IncomingMessage): Omit<ParsedRequest, 'complete'> {
  const headers: Array<[string, string]> = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  return { method: req.method ?? '', target: req.url ?? '', minor: req.httpVersionMinor, headers, body: '', trailers: [] };
}

function resultOf(conn: Connection): ParseResult {
  const { requests, error, refused } = conn;
  conn.messages.forEach((req, k) => {
    // Set by the parser itself at the end of the message, trailers included.
    const request = requests[k]!;
    if (!request.complete) request.complete = req.complete;
    for (let i = 0; i + 1 < req.rawTrailers.length; i += 2) request.trailers.push([req.rawTrailers[i]!.toLowerCase(), req.rawTrailers[i + 1]!]);
  });
  if (refused !== undefined && (error === undefined || refused.index <= error.index)) {
    return { requests: requests.slice(0, refused.index + 1), outcome: { kind: 'rejected', ...refused } };
  }
  if (error !== undefined) {
    // llhttp_finish inside a message: the input ended in the middle of a request.
    if (error.reason.startsWith('HPE_INVALID_EOF_STATE')) return { requests, outcome: { kind: 'partial' } };
    return { requests, outcome: { kind: 'rejected', ...error } };
  }
  const last = requests.at(-1);
  return { requests, outcome: last !== undefined && !last.complete ? { kind: 'partial' } : { kind: 'clean' } };
}
