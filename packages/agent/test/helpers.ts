import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import diagnostics from 'node:diagnostics_channel';
import type { TestContext } from 'node:test';
import { BODY_KIND, BodyFramer, findHeadEnd, listFields, parseResponseHead, responseBodyKind } from '@detour/core';
import type { Intercept } from '@detour/protocol';
import { startAgent } from '../src/index.js';
import type { AgentHandle, AgentOptions, RouteEvent } from '../src/index.js';

export const TOKEN = 'test-token-0123456789';

/** Every `detour:agent:route` event published during the test, in order. */
export function routeEvents(t: TestContext): RouteEvent[] {
  const seen: RouteEvent[] = [];
  const onRoute = (message: unknown) => seen.push(message as RouteEvent);
  diagnostics.subscribe('detour:agent:route', onRoute);
  t.after(() => diagnostics.unsubscribe('detour:agent:route', onRoute));
  return seen;
}

/** Polls `check` until it returns true; fails after `deadlineMs` instead of sleeping a fixed time. */
export async function until(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
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

/** A plain-data intercept for the routing unit tests (what a rule set carries), `overrides` on top. */
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
