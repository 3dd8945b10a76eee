import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { CLIENT_PREFACE, FRAME_SETTINGS, FrameReader } from '@detour/transport';
import { agentWatching, startTestManager } from './control-plane.js';
import type { AgentOptions } from '../src/index.js';
import { agentFor } from './helpers.js';

// Peers for the tests of the agent's HTTP/2 frame relay (h2-relay.ts): real node:http2 apps and clients
// on 127.0.0.1, and, where a test needs bytes node:http2 would never send, a raw socket speaking frames.

export interface AppStream {
  headers: http2.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

export interface H2App {
  url: string;
  port: number;
  /** Every stream the app saw, once it closed. */
  seen: AppStream[];
  sessions: Set<http2.ServerHttp2Session>;
  server: http2.Http2Server;
}

/** A real h2c app; `handler` answers, and defaults to echoing the body's sha256 with a trailer. */
export async function h2App(t: TestContext, handler?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void): Promise<H2App> {
  const server = http2.createServer({ settings: { initialWindowSize: 1024 * 1024 } });
  const sessions = new Set<http2.ServerHttp2Session>();
  const seen: AppStream[] = [];
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const chunks: Buffer[] = [];
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('trailers', (received: http2.IncomingHttpHeaders) => (trailers = received));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.once('close', () => seen.push({ headers, rawHeaders, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode }));
    if (handler !== undefined) return handler(stream, headers, Buffer.alloc(0));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'detour-intercept-id': 'forged' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sha256': sha256(body), 'x-bytes': String(body.length) }));
      stream.end(headers[':path'] === '/big' ? Buffer.alloc(Number(headers['x-size']), 7) : `path=${headers[':path']} scheme=${headers[':scheme']}`);
    });
  };
  // node passes the raw field list fourth; @types/node omits it.
  server.on('stream', onStream as (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const session of sessions) session.destroy();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, seen, sessions, server };
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface Answer {
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

export function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let response: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('response', (h) => (response = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('trailers', (received) => (trailers = received));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ headers: response, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode }));
    if (body !== undefined) stream.end(body);
  });
}

export async function agentOnApp(t: TestContext, appUrl: string, options: Partial<AgentOptions> = {}) {
  const manager = await startTestManager(t);
  const agent = await agentFor(t, { ...options, appUrl, managerUrl: manager.url });
  await agentWatching(manager, agent.id);
  return agent;
}

export function connect(t: TestContext, port: number, settings?: http2.Settings): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings });
  // Torn down with bytes in flight (a stalled test), the agent's socket may reset.
  session.on('error', () => undefined);
  t.after(() => session.destroy());
  return session;
}

/** One frame's bytes, as a raw peer writes them. */
export function frameBytes(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** A raw HTTP/2 client: frames out as the test writes them, frames in decoded. */
export async function rawClient(t: TestContext, port: number, settings: Buffer = Buffer.alloc(0)) {
  const socket = net.connect(port, '127.0.0.1');
  // The agent may reset a connection it ends with bytes unread (a test's flood).
  socket.on('error', () => undefined);
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  const frames: { type: number; flags: number; streamId: number; payload: Buffer }[] = [];
  const reader = new FrameReader({ frame: (type, flags, streamId, payload) => frames.push({ type, flags, streamId, payload: Buffer.from(payload) }) }, 1 << 24);
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
  const frame = (type: number, flags: number, streamId: number, payload: Buffer) => socket.write(frameBytes(type, flags, streamId, payload));
  socket.write(CLIENT_PREFACE);
  frame(FRAME_SETTINGS, 0, 0, settings);
  return { socket, frames, frame };
}
