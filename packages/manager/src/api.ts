import type { z } from 'zod';
import {
  API_PREFIX,
  AgentAckSchema,
  InterceptRequestSchema,
  SESSION_KEY_HEADER,
  SessionCreateSchema,
  SightingSchema,
  TraceRequestSchema,
} from '@detour/protocol';
import type { ManagerInfo } from '@detour/protocol';
import { DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import type { ManagerState } from './state.js';
import { runTrace } from './trace.js';
import type { TraceBook } from './trace.js';
import type { Tunnels } from './tunnels.js';

/** One API call, whichever HTTP version carried it. */
export interface ApiExchange {
  method: string;
  url: URL;
  header(name: string): string | undefined;
  body: AsyncIterable<Buffer>;
  send(status: number, body?: unknown): void;
}

export interface ApiContext {
  state: ManagerState;
  hub: AgentHub;
  tunnels: Tunnels;
  logger: Logger;
  version: string;
  ackTimeoutMs: number;
  traces: TraceBook;
}

const MAX_BODY_BYTES = 1024 * 1024;

async function readJson<T>(exchange: ApiExchange, schema: z.ZodType<T>): Promise<T> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of exchange.body) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new DetourError('DETOUR_ERR_API_BODY_TOO_LARGE', `request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', 'request body is not valid JSON', { cause: err });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
    throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', `invalid request body: ${problems.join('; ')}`, { details: { problems } });
  }
  return parsed.data;
}

/** Pushes a change to the agents and waits until every agent of each service has it live. */
async function publish(context: ApiContext, services: Set<string>): Promise<void> {
  context.hub.push(services);
  await Promise.all([...services].map((service) => context.hub.waitForAcks(service, context.state.ruleSet(service).version, context.ackTimeoutMs)));
}

type Handler = (context: ApiContext, exchange: ApiExchange, params: string[]) => Promise<void>;

const routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [
  {
    method: 'GET',
    pattern: /^\/info$/,
    handler: async (context, exchange) => {
      const info: ManagerInfo = { version: context.version, leaseMs: context.state.leaseMs, globalAllowed: context.state.globalAllowed };
      exchange.send(200, info);
    },
  },
  {
    method: 'POST',
    pattern: /^\/sessions$/,
    handler: async (context, exchange) => {
      const request = await readJson(exchange, SessionCreateSchema);
      const { session, key, changed } = context.state.createSession(request);
      context.hub.push(changed);
      context.logger.info({ sessionId: session.id, name: session.name }, 'session opened');
      exchange.send(201, { session, key });
    },
  },
  {
    method: 'GET',
    pattern: /^\/sessions\/([^/]+)$/,
    handler: async (context, exchange, [id]) => {
      exchange.send(200, context.state.authorizeSession(id!, exchange.header(SESSION_KEY_HEADER)));
    },
  },
  {
    method: 'POST',
    pattern: /^\/sessions\/([^/]+)\/heartbeat$/,
    handler: async (context, exchange, [id]) => {
      context.state.authorizeSession(id!, exchange.header(SESSION_KEY_HEADER));
      exchange.send(200, context.state.heartbeat(id!));
    },
  },
  {
    method: 'DELETE',
    pattern: /^\/sessions\/([^/]+)$/,
    handler: async (context, exchange, [id]) => {
      context.state.authorizeSession(id!, exchange.header(SESSION_KEY_HEADER));
      const changed = context.state.endSession(id!);
      context.tunnels.drop(id!);
      context.logger.info({ sessionId: id }, 'session closed');
      await publish(context, changed);
      exchange.send(204);
    },
  },
  {
    method: 'GET',
    pattern: /^\/services$/,
    handler: async (context, exchange) => {
      exchange.send(200, { services: context.state.services() });
    },
  },
  {
    method: 'POST',
    pattern: /^\/intercepts$/,
    handler: async (context, exchange) => {
      const session = context.state.sessionForKey(exchange.header(SESSION_KEY_HEADER));
      const request = await readJson(exchange, InterceptRequestSchema);
      const { intercept, created } = context.state.addIntercept(session.id, request);
      if (created) {
        try {
          await publish(context, new Set([intercept.service]));
        } catch (err) {
          // Nothing is created half-way: an intercept some agent may not route is withdrawn.
          context.hub.push(context.state.rollbackIntercept(intercept.id));
          throw err;
        }
        context.logger.info({ interceptId: intercept.id, service: intercept.service, owner: intercept.owner.name }, 'intercept created');
      }
      exchange.send(created ? 201 : 200, context.state.getIntercept(intercept.id) ?? intercept);
    },
  },
  {
    method: 'DELETE',
    pattern: /^\/intercepts\/([^/]+)$/,
    handler: async (context, exchange, [id]) => {
      const session = context.state.sessionForKey(exchange.header(SESSION_KEY_HEADER));
      const intercept = context.state.removeIntercept(session.id, id!);
      context.logger.info({ interceptId: intercept.id, service: intercept.service }, 'intercept removed');
      await publish(context, new Set([intercept.service]));
      exchange.send(204);
    },
  },
  {
    method: 'POST',
    pattern: /^\/agents\/([^/]+)\/ack$/,
    handler: async (context, exchange, [agentId]) => {
      const { version } = await readJson(exchange, AgentAckSchema);
      if (!context.hub.acknowledge(agentId!, version)) {
        throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no agent ${agentId} is watching`);
      }
      exchange.send(204);
    },
  },
  {
    method: 'POST',
    pattern: /^\/traces$/,
    handler: async (context, exchange) => {
      exchange.send(200, await runTrace(context, await readJson(exchange, TraceRequestSchema)));
    },
  },
  {
    method: 'POST',
    pattern: /^\/traces\/([^/]+)\/sightings$/,
    handler: async (context, exchange, [traceId]) => {
      context.traces.record(traceId!, await readJson(exchange, SightingSchema));
      exchange.send(204);
    },
  },
];

/** Answers one authenticated API call. Errors become a 4xx/5xx with a JSON body. */
export async function handleApi(context: ApiContext, exchange: ApiExchange): Promise<void> {
  try {
    const path = exchange.url.pathname;
    if (!path.startsWith(`${API_PREFIX}/`)) throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no endpoint ${exchange.method} ${path}`);
    const rest = path.slice(API_PREFIX.length);
    for (const route of routes) {
      const match = route.pattern.exec(rest);
      if (match === null || route.method !== exchange.method) continue;
      await route.handler(context, exchange, match.slice(1).map(decodeURIComponent));
      return;
    }
    throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no endpoint ${exchange.method} ${path}`);
  } catch (err) {
    sendError(context.logger, exchange, err);
  }
}

export function sendError(logger: Logger, exchange: Pick<ApiExchange, 'send'>, err: unknown): void {
  if (isDetourError(err)) {
    exchange.send(err.status, err.toBody());
    return;
  }
  logger.error({ err }, 'API handler failed');
  exchange.send(500, { error: { code: 'DETOUR_ERR_INTERNAL_BUG', message: 'internal error; see the manager log' } });
}
