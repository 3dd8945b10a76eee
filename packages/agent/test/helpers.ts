import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { BODY_KIND, BodyFramer, findHeadEnd, listFields, parseResponseHead, responseBodyKind } from '@detour/core';
import type { Intercept, RuleSet } from '@detour/protocol';
import { startAgent } from '../src/index.js';
import type { AgentHandle, AgentOptions } from '../src/index.js';

export const TOKEN = 'test-token-0123456789';

/** Polls `check` until it returns true; fails after `deadlineMs` instead of sleeping a fixed time. */
export async function until(check: () => boolean, what: string, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A real app on 127.0.0.1:0. */
export async function startApp(t: TestContext, handler: http.RequestListener): Promise<{ server: http.Server; url: string; port: number }> {
  const server = http.createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, port };
}

/** An app that echoes what it saw as JSON (method, url, headers, body length). */
export function echoHandler(tag = 'app'): http.RequestListener {
  return (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ tag, method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bytes, trailers: req.trailers }));
    });
  };
}

export async function agentFor(t: TestContext, options: Partial<AgentOptions> & { appUrl: string; managerUrl: string }): Promise<AgentHandle> {
  const agent = await startAgent({ service: 'orders', token: TOKEN, ...options });
  t.after(() => agent.destroy());
  return agent;
}

/** One response read from a raw socket with the agent's own codec. */
export interface RawResponse {
  status: number;
  head: string;
  fields: Array<[string, string]>;
  body: Buffer;
  trailers: Array<[string, string]>;
}

/**
 * A raw HTTP/1.1 client on one TCP connection: exact bytes out, responses read
 * one at a time in order, so tests control keep-alive and pipelining.
 */
export class RawClient {
  readonly socket: net.Socket;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  ended = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      this.#wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.#wake();
    });
    socket.on('error', () => {});
  }

  static async connect(t: TestContext, port: number): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    t.after(() => socket.destroy());
    return new RawClient(socket);
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  async #more(): Promise<void> {
    if (this.ended) throw new Error(`connection closed; unread: ${JSON.stringify(this.#buf.toString('latin1'))}`);
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Reads the next response; `method` tells whether it has a body (HEAD). */
  async response(method = 'GET'): Promise<RawResponse> {
    for (;;) {
      const end = findHeadEnd(this.#buf, 0, 0, this.#buf.length, 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE');
      if (end !== -1) {
        const head = parseResponseHead(this.#buf, 0, end);
        const kind = responseBodyKind(head, method);
        const parts: Buffer[] = [];
        const framer = new BodyFramer(kind, head.contentLength, { code: 'DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE', onData: (b, s, e) => parts.push(Buffer.from(b.subarray(s, e))) });
        const headText = this.#buf.toString('latin1', 0, end);
        const fields = listFields(this.#buf, 0, end);
        let at = framer.consume(this.#buf, end, this.#buf.length);
        this.#buf = this.#buf.subarray(at);
        while (!framer.done) {
          if (this.ended && kind === BODY_KIND.CLOSE) {
            framer.end();
            break;
          }
          await this.#more();
          at = framer.consume(this.#buf, 0, this.#buf.length);
          this.#buf = this.#buf.subarray(at);
        }
        return { status: head.status, head: headText, fields, body: Buffer.concat(parts), trailers: kind === BODY_KIND.CHUNKED ? framer.trailers() : [] };
      }
      await this.#more();
    }
  }

  /** Resolves once the agent closed the connection. */
  async closed(): Promise<void> {
    for (let i = 0; i < 1000 && !this.ended; i++) await this.#more().catch(() => undefined);
  }
}

export function field(response: RawResponse, name: string): string | undefined {
  return response.fields.find(([n]) => n.toLowerCase() === name)?.[1];
}

export function json(response: RawResponse): Record<string, unknown> {
  return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
}

export function intercept(overrides: Partial<Intercept> & { id: string }): Intercept {
  return {
    name: overrides.id,
    service: 'orders',
    headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'alice' }],
    paths: [],
    global: false,
    onDisconnect: 'fallback',
    mechanism: 'http',
    localPort: 3000,
    owner: { sessionId: 's-alice', name: 'alice', headerValue: 'alice' },
    createdAt: 1,
    sequence: 1,
    online: true,
    ...overrides,
  };
}

export type RelayHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

/**
 * What the manager and the daemon do together with an agent's CONNECT stream:
 * connect to the developer's local app on 127.0.0.1:`port`, answer 200, then
 * splice bytes both ways (RFC 9113 §8.5).
 */
export function spliceTo(port: number): RelayHandler {
  return (stream) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.once('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
    stream.once('close', () => socket.destroy());
    socket.once('connect', () => {
      stream.respond({ ':status': 200 });
      stream.pipe(socket);
      socket.pipe(stream);
    });
  };
}

/**
 * Stands in for the manager (packages/manager) while it is being written. It
 * follows the agent contract: the NDJSON watch with a bearer token, acks, and
 * relay streams on the same HTTP/2 session, which the token authenticated.
 */
export class FakeManager {
  readonly server = http2.createServer();
  ruleSet: RuleSet = { service: 'orders', version: 1, intercepts: [] };
  readonly acks: number[] = [];
  readonly watchers = new Set<http2.ServerHttp2Stream>();
  watchRequests: URLSearchParams[] = [];
  /** Set by a test that relays; until then, as a manager with no developer connected. */
  relay: RelayHandler = (stream) => {
    stream.respond({ ':status': 503, 'detour-offline': '1', 'content-type': 'application/json' });
    stream.end(JSON.stringify({ error: { code: 'DETOUR_ERR_TUNNEL_OFFLINE', message: 'no developer connected' } }));
  };
  readonly #authenticated = new WeakSet<http2.ServerHttp2Session>();
  readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor() {
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
    });
    this.server.on('stream', (stream, headers) => this.#stream(stream, headers));
  }

  static async start(t: TestContext): Promise<FakeManager> {
    const manager = new FakeManager();
    manager.server.listen(0, '127.0.0.1');
    await once(manager.server, 'listening');
    t.after(() => manager.stop());
    return manager;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Publishes a new rule set to every watcher and waits for the agents' ack of it. */
  async publish(intercepts: Intercept[]): Promise<void> {
    this.ruleSet = { service: 'orders', version: this.ruleSet.version + 1, intercepts };
    for (const stream of this.watchers) stream.write(`${JSON.stringify(this.ruleSet)}\n`);
    const version = this.ruleSet.version;
    await until(() => this.acks.includes(version), `ack of version ${version}`);
  }

  /** Drops every agent session, as a crashing manager would. */
  dropSessions(): void {
    for (const session of this.sessions) session.destroy();
  }

  stop(): Promise<void> {
    this.dropSessions();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  #stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const path = String(headers[':path']);
    stream.on('error', () => {});
    if (path.startsWith('/v1/agents/watch')) {
      if (headers.authorization !== `Bearer ${TOKEN}`) {
        stream.respond({ ':status': 401, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ error: { code: 'DETOUR_ERR_AUTH_BAD_TOKEN', message: 'bad token' } }));
        return;
      }
      this.watchRequests.push(new URLSearchParams(path.slice(path.indexOf('?') + 1)));
      this.#authenticated.add(stream.session as http2.ServerHttp2Session);
      this.watchers.add(stream);
      stream.on('close', () => this.watchers.delete(stream));
      stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
      stream.write(`${JSON.stringify(this.ruleSet)}\n`);
      return;
    }
    const ack = /^\/v1\/agents\/[^/]+\/ack$/.exec(path);
    if (ack !== null) {
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => {
        this.acks.push((JSON.parse(text) as { version: number }).version);
        stream.respond({ ':status': 204 });
        stream.end();
      });
      return;
    }
    if (!this.#authenticated.has(stream.session as http2.ServerHttp2Session)) {
      stream.respond({ ':status': 401 });
      stream.end();
      return;
    }
    this.relay(stream, headers);
  }
}
