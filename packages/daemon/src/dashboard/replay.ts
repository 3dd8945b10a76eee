import http from 'node:http';
import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { DetourError } from '@detour/core';
import type { Fields, ReplayAnswer, ReplayRequest } from '@detour/dashboard-ui/model';
import { BodyPrefix } from '../capture/body-prefix.js';
import { h2Fields } from '../capture/h2-observer.js';

/** A replay that has not answered by then is given up (the dashboard shows the error). */
export const REPLAY_TIMEOUT_MS = 30_000;

/** Fields that describe one hop, not the request: the client of the replay sets its own (RFC 9110 §7.6.1). */
const HOP_FIELDS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'upgrade', 'http2-settings', 'content-length', 'host']);

export interface ReplayDestination {
  /** `http://host:port` */
  origin: string;
  /** Header names (lower case) not to send: the routing header when replaying to the environment. */
  remove: ReadonlySet<string>;
  note?: string;
}

function unreachable(origin: string, err: Error & { code?: string }): DetourError {
  return new DetourError('DETOUR_ERR_DASHBOARD_REPLAY_FAILED', `the replay to ${origin} got no answer (${err.code ?? err.message})`, { cause: err });
}

/**
 * Sends a request once, as given (method, target, fields, body), and reads
 * the whole answer, keeping its first 64 KiB like the inspector does. HTTP/1.1
 * requests go over a fresh HTTP/1.1 connection, HTTP/2 and gRPC ones over
 * HTTP/2 with prior knowledge, as the daemon forwards them.
 */
export async function replay(request: ReplayRequest, destination: ReplayDestination): Promise<ReplayAnswer> {
  const removed: string[] = [];
  const headers: Fields = [];
  let authority: string | undefined;
  for (const [rawName, value] of request.headers) {
    const name = rawName.toLowerCase();
    if (name === 'host') authority = value;
    if (destination.remove.has(name)) {
      removed.push(name);
      continue;
    }
    if (HOP_FIELDS.has(name) || name.startsWith(':')) continue;
    headers.push([name, value]);
  }
  const body = Buffer.from(request.bodyBase64, 'base64');
  const started = performance.now();
  const answer = request.protocol === 'http/1.1' ? await sendHttp1(request, destination.origin, headers, authority, body) : await sendHttp2(request, destination.origin, headers, body);
  return {
    target: request.target,
    origin: destination.origin,
    ...answer,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    removedHeaders: [...new Set(removed)],
    ...(destination.note === undefined ? {} : { note: destination.note }),
  };
}

type Answer = Pick<ReplayAnswer, 'status' | 'headers' | 'body' | 'trailers'>;

function sendHttp1(request: ReplayRequest, origin: string, fields: Fields, authority: string | undefined, body: Buffer): Promise<Answer> {
  const headers: string[] = [];
  // The Host the app saw first time, so a virtual-hosted app answers the same way.
  if (authority !== undefined) headers.push('host', authority);
  for (const [name, value] of fields) headers.push(name, value);
  if (body.length > 0 || !['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(request.method)) headers.push('content-length', String(body.length));
  return new Promise((resolve, reject) => {
    const req = http.request(`${origin}${request.path}`, { method: request.method, headers, agent: false, signal: AbortSignal.timeout(REPLAY_TIMEOUT_MS) }, (res) => {
      const prefix = new BodyPrefix();
      res.on('data', (chunk: Buffer) => prefix.add(chunk));
      res.once('error', (err) => reject(unreachable(origin, err)));
      res.once('end', () => {
        const trailers = pairs(res.rawTrailers);
        resolve({ status: res.statusCode ?? 0, headers: pairs(res.rawHeaders), body: prefix.toCaptured(), ...(trailers.length === 0 ? {} : { trailers }) });
      });
    });
    req.once('error', (err) => reject(unreachable(origin, err)));
    req.end(body);
  });
}

function pairs(raw: string[]): Fields {
  const out: Fields = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

function sendHttp2(request: ReplayRequest, origin: string, fields: Fields, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    const timer = setTimeout(() => session.destroy(new Error('timed out')), REPLAY_TIMEOUT_MS);
    timer.unref();
    const fail = (err: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(unreachable(origin, err));
    };
    session.once('error', fail);
    const headers: OutgoingHttpHeaders = { ':method': request.method, ':path': request.path };
    for (const [name, value] of fields) {
      const previous = headers[name];
      headers[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [String(previous)]), value];
    }
    const stream = session.request(headers, { endStream: body.length === 0 });
    const prefix = new BodyPrefix();
    let status = 0;
    let head: Fields = [];
    let trailers: Fields | undefined;
    stream.once('response', (h: IncomingHttpHeaders) => {
      status = Number(h[':status']);
      head = h2Fields(h);
    });
    stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = h2Fields(t)));
    stream.on('data', (chunk: Buffer) => prefix.add(chunk));
    stream.once('error', fail);
    stream.once('close', () => {
      clearTimeout(timer);
      session.close();
      if (status === 0) {
        reject(new DetourError('DETOUR_ERR_DASHBOARD_REPLAY_FAILED', `the replay to ${origin} was reset before an answer (HTTP/2 code ${stream.rstCode})`));
        return;
      }
      resolve({ status, headers: head, body: prefix.toCaptured(), ...(trailers === undefined ? {} : { trailers }) });
    });
    if (body.length > 0) stream.end(body);
  });
}
