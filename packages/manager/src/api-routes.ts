import type { z } from 'zod';
import { AgentAckSchema, InterceptRequestSchema, PreviewCreateSchema, PreviewIdSchema, SessionCreateSchema, SightingSchema, TraceRequestSchema } from '@detour/protocol';
import type { ManagerInfo, PreviewList, RecentLogs } from '@detour/protocol';
import { DetourError, LOG_RING_DEFAULTS } from '@detour/core';
import type { Logger } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import type { AgentWatch } from './agent-watch.js';
import type { ApiExchange } from './api-exchange.js';
import type { LogCollection } from './log-collection.js';
import type { ManagerMetrics } from './metrics.js';
import type { PreviewRegistry } from './previews/preview-registry.js';
import { checkEntryAnswers, entryUrl, previewHeaders, previewRoute, previewView } from './previews/preview-views.js';
import type { Grants, RouteAuth } from './route-auth.js';
import type { ManagerState } from './state.js';
import { runTrace } from './trace.js';
import type { TraceBook } from './trace.js';
import type { Tunnels } from './tunnels.js';

/** What the route handlers work on. */
export interface ApiContext {
  state: ManagerState;
  hub: AgentHub;
  tunnels: Tunnels;
  watches: AgentWatch;
  logger: Logger;
  version: string;
  ackTimeoutMs: number;
  traces: TraceBook;
  logs: LogCollection;
  /** Resolves once the intercept store holds every change made so far (at once without a store). */
  persisted(): Promise<void>;
  metrics: ManagerMetrics;
  previews: PreviewRegistry;
  /** The preview gateway's public origin (`--preview-url`); without one, previews are refused. */
  previewUrl: string | undefined;
}

/** A handler's view of its call: what the route's auth level proved, and its path segments (decoded on use). */
export type RouteRequest<A extends RouteAuth> = Grants[A] & { param(name: string): string };

export interface ApiRoute<A extends RouteAuth = RouteAuth> {
  method: string;
  /** Matched against the path after `/v1`; its named groups are the route's params (`sessionId`, `interceptId` are what the gate reads). */
  pattern: RegExp;
  /** Matched against the whole path instead, outside the versioned API: `/metrics`, where Prometheus looks by default. */
  unversioned?: true;
  /** What the caller must prove; route-auth.ts checks it before `handler` runs. */
  auth: A;
  // Method syntax on purpose: a route of one level is then usable where any route is (parameters are checked bivariantly).
  handler(context: ApiContext, exchange: ApiExchange, request: RouteRequest<A>): Promise<void>;
}

/** Ties a handler's request type to the route's declared auth level. */
const route = <A extends RouteAuth>(definition: ApiRoute<A>): ApiRoute => definition;

const MAX_BODY_BYTES = 1024 * 1024;

async function readBody(exchange: ApiExchange, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of exchange.body) {
    size += chunk.length;
    if (size > maxBytes) throw new DetourError('DETOUR_ERR_API_BODY_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readJson<T>(exchange: ApiExchange, schema: z.ZodType<T>): Promise<T> {
  const body = await readBody(exchange, MAX_BODY_BYTES);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
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

/** Pushes a change to the agents and waits until every agent of each service has it live and the store holds it. */
async function publish(context: ApiContext, services: Set<string>): Promise<void> {
  context.hub.push(services);
  await Promise.all([
    ...[...services].map((service) => context.hub.waitForAcks(service, context.state.ruleSet(service).version, context.ackTimeoutMs)),
    context.persisted(),
  ]);
}

export function notFound(exchange: Pick<ApiExchange, 'method' | 'url'>): DetourError {
  return new DetourError('DETOUR_ERR_API_NOT_FOUND', `no endpoint ${exchange.method} ${exchange.url.pathname}`);
}

/** Every endpoint of the JSON API and what it needs from its caller (docs/architecture.md lists them). */
export const API_ROUTES: readonly ApiRoute[] = [
  route({
    method: 'GET',
    pattern: /^\/info$/,
    auth: 'token',
    handler: async (context, exchange) => {
      const info: ManagerInfo = {
        version: context.version,
        leaseMs: context.state.leaseMs,
        globalAllowed: context.state.globalAllowed,
        ...(context.previewUrl === undefined ? {} : { previewUrl: context.previewUrl }),
      };
      exchange.send(200, info);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/sessions$/,
    auth: 'token',
    handler: async (context, exchange) => {
      const request = await readJson(exchange, SessionCreateSchema);
      const { session, key, changed } = context.state.createSession(request);
      context.hub.push(changed);
      context.logger.info({ sessionId: session.id, name: session.name }, 'session opened');
      exchange.send(201, { session, key });
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/sessions\/(?<sessionId>[^/]+)$/,
    auth: 'session',
    handler: async (_context, exchange, { session }) => {
      exchange.send(200, session);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/sessions\/(?<sessionId>[^/]+)\/heartbeat$/,
    auth: 'session',
    handler: async (context, exchange, { session }) => {
      exchange.send(200, context.state.heartbeat(session.id));
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/sessions\/(?<sessionId>[^/]+)$/,
    auth: 'session',
    handler: async (context, exchange, { session }) => {
      const changed = context.state.endSession(session.id);
      context.tunnels.drop(session.id);
      context.logger.info({ sessionId: session.id }, 'session closed');
      await publish(context, changed);
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/services$/,
    auth: 'token',
    handler: async (context, exchange) => {
      exchange.send(200, { services: context.state.services() });
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/intercepts$/,
    auth: 'caller-session',
    handler: async (context, exchange, { session }) => {
      const request = await readJson(exchange, InterceptRequestSchema);
      const { intercept, created, reclaimed } = context.state.addIntercept(session.id, request);
      if (created || reclaimed) {
        try {
          await publish(context, new Set([intercept.service]));
        } catch (err) {
          // Nothing is created half-way: an intercept some agent may not route, or the store does not hold, is withdrawn.
          context.hub.push(context.state.dropIntercept(intercept.id));
          throw err;
        }
        context.logger.info({ interceptId: intercept.id, service: intercept.service, owner: intercept.owner.name }, created ? 'intercept created' : 'intercept reclaimed after a restart');
      }
      exchange.send(created ? 201 : 200, context.state.getIntercept(intercept.id) ?? intercept);
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/intercepts\/(?<interceptId>[^/]+)$/,
    auth: 'intercept-owner',
    handler: async (context, exchange, { session, intercept }) => {
      context.state.removeIntercept(session.id, intercept.id);
      context.logger.info({ interceptId: intercept.id, service: intercept.service }, 'intercept removed');
      await publish(context, new Set([intercept.service]));
      exchange.send(204);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/intercepts\/(?<interceptId>[^/]+)\/previews$/,
    auth: 'intercept-owner',
    handler: async (context, exchange, { intercept }) => {
      const request = await readJson(exchange, PreviewCreateSchema);
      if (context.previewUrl === undefined) {
        throw new DetourError('DETOUR_ERR_PREVIEW_DISABLED', 'this manager has no preview gateway; start it with --preview-listen PORT (or point it at one with --preview-url URL)');
      }
      previewHeaders(intercept);
      const entry = request.entry ?? { kind: 'service' as const, service: intercept.service };
      await checkEntryAnswers(entryUrl(entry, context.state));
      const record = context.previews.create(intercept, entry, request.ttlMs);
      await context.persisted();
      context.logger.info({ interceptId: intercept.id, preview: record.hint, expiresAt: new Date(record.expiresAt).toISOString() }, 'preview created');
      exchange.send(201, previewView(record, intercept, context.previewUrl));
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/intercepts\/(?<interceptId>[^/]+)\/previews\/(?<previewRef>[^/]+)$/,
    auth: 'intercept-owner',
    handler: async (context, exchange, request) => {
      const record = context.previews.remove(request.intercept.id, request.param('previewRef'));
      await context.persisted();
      context.logger.info({ interceptId: request.intercept.id, preview: record.hint }, 'preview removed');
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/previews$/,
    auth: 'caller-session',
    handler: async (context, exchange, { session }) => {
      const mine = new Map(context.state.services().flatMap((s) => s.intercepts.filter((i) => i.owner.sessionId === session.id).map((i) => [i.id, i] as const)));
      const previews = context.previews.ofIntercepts(new Set(mine.keys())).map((record) => previewView(record, mine.get(record.interceptId)!, context.previewUrl));
      const list: PreviewList = { previews };
      exchange.send(200, list);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/previews\/(?<previewId>[^/]+)\/route$/,
    // The gateway holds the manager token. The id is the secret a visitor brings; it is never logged whole.
    auth: 'token',
    handler: async (context, exchange, request) => {
      const id = PreviewIdSchema.safeParse(request.param('previewId'));
      const record = id.success ? context.previews.lookup(id.data) : undefined;
      const intercept = record === undefined ? undefined : context.state.getIntercept(record.interceptId);
      if (record === undefined || intercept === undefined) {
        throw new DetourError('DETOUR_ERR_PREVIEW_NOT_FOUND', 'no such preview: unknown, revoked with its intercept, or expired');
      }
      exchange.send(200, previewRoute(record, intercept, context.state));
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/agents\/watch$/,
    auth: 'token',
    handler: async (context, exchange) => {
      // HTTP/2 only: the watch stream is what authenticates an agent's session for its relay streams.
      if (exchange.h2Stream === undefined) throw notFound(exchange);
      context.watches.open(exchange.h2Stream, exchange.url.searchParams);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/agents\/(?<agentId>[^\/]+)\/data-session$/,
    auth: 'token',
    handler: async (context, exchange, request) => {
      // HTTP/2 only: authenticates the session it arrives on for the relay streams of a watching agent.
      if (exchange.h2Stream === undefined) throw notFound(exchange);
      context.watches.openData(exchange.h2Stream, request.param('agentId'));
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/agents\/(?<agentId>[^/]+)\/ack$/,
    auth: 'token',
    handler: async (context, exchange, request) => {
      const agentId = request.param('agentId');
      const { version } = await readJson(exchange, AgentAckSchema);
      if (!context.hub.acknowledge(agentId, version)) {
        throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no agent ${agentId} is watching`);
      }
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/metrics$/,
    unversioned: true,
    auth: 'token',
    handler: async (context, exchange) => {
      const { registry } = context.metrics;
      exchange.sendText(200, registry.contentType, await registry.metrics());
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/traces$/,
    auth: 'token',
    handler: async (context, exchange) => {
      exchange.send(200, await runTrace(context, await readJson(exchange, TraceRequestSchema)));
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/traces\/(?<traceId>[^/]+)\/sightings$/,
    auth: 'token',
    handler: async (context, exchange, request) => {
      context.traces.record(request.param('traceId'), await readJson(exchange, SightingSchema));
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/logs$/,
    // Not `token`: every agent holds the token. A live session ties each fetch of
    // everyone's (redacted) logs to a developer's name in the manager's log.
    auth: 'caller-session',
    handler: async (context, exchange, { session }) => {
      const { agents, missing } = await context.logs.collectAgents(context.hub);
      context.logger.info({ sessionId: session.id, name: session.name, agents: agents.length, missing: missing.length }, 'recent logs collected');
      const logs: RecentLogs = { manager: { version: context.version, log: context.logs.managerLog() }, agents, missing };
      exchange.send(200, logs);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/agents\/(?<agentId>[^/]+)\/logs\/(?<requestId>[^/]+)$/,
    auth: 'token',
    handler: async (context, exchange, request) => {
      // NDJSON as the agent's ring holds it, which never exceeds the ring's byte bound.
      const log = (await readBody(exchange, LOG_RING_DEFAULTS.maxBytes)).toString('utf8');
      context.logs.record(request.param('requestId'), request.param('agentId'), log);
      exchange.send(204);
    },
  }),
];
