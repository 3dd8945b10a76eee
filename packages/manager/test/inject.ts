import assert from 'node:assert/strict';
import { createLogger } from '@detour/core';
import type { ApiHandler } from '../src/api.js';
import { buildManager } from '../src/server.js';
import type { Manager, ManagerOptions } from '../src/server.js';

export const TOKEN = 'test-token-0123456789';
export const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Options for a test manager on 127.0.0.1, port 0. */
export function testManagerOptions(options: Partial<ManagerOptions> = {}): ManagerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    leaseMs: 15_000,
    globalAllowed: true,
    logger: createLogger('manager', { level: 'silent' }),
    version: 'test',
    ...options,
  };
}

/** A manager wired together but listening nowhere. */
export function build(options: Partial<ManagerOptions> = {}): Manager {
  return buildManager(testManagerOptions(options));
}

export interface InjectRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Sent as JSON; a string is sent as it is. */
  body?: unknown;
}

export interface Injected {
  status: number;
  /** The body as a client would parse it (a JSON round trip), the text of a non-JSON answer, or undefined for none. */
  body: unknown;
  /** Set for a non-JSON answer. */
  contentType?: string;
}

/** Feeds one call to the API handler, as fastify's `inject` does, and returns what it answered. */
export async function inject(api: ApiHandler, request: InjectRequest): Promise<Injected> {
  const headers = new Map(Object.entries(request.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
  const payload = request.body === undefined ? [] : [Buffer.from(typeof request.body === 'string' ? request.body : JSON.stringify(request.body))];
  let answer: Injected | undefined;
  await api({
    method: request.method,
    url: new URL(request.path, 'http://manager'),
    header: (name) => headers.get(name),
    remote: '127.0.0.1',
    body: (async function* () {
      yield* payload;
    })(),
    send: (status, body) => {
      assert.equal(answer, undefined, 'the handler answered twice');
      answer = { status, body: body === undefined ? undefined : JSON.parse(JSON.stringify(body)) };
    },
    sendText: (status, contentType, text) => {
      assert.equal(answer, undefined, 'the handler answered twice');
      answer = { status, body: text, contentType };
    },
  });
  assert.ok(answer !== undefined, `${request.method} ${request.path} got no answer`);
  return answer;
}

/** The `error.code` of a JSON error body. */
export function codeOf(injected: Injected): string | undefined {
  return (injected.body as { error?: { code?: string } } | undefined)?.error?.code;
}

/** What `/v1/info` tells of a manager started without `--egress` flags. */
export const AGENTS_EGRESS = { mode: 'agents', clusterDomain: 'cluster.local', namespaces: [], serviceCidrs: [] };
