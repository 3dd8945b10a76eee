import type { z } from 'zod';
import { AgentAckSchema, AgentEnvironmentSchema, InterceptRequestSchema, PreviewCreateSchema, PreviewIdSchema, SessionCreateSchema, SightingSchema, TokenCreateSchema, TraceRequestSchema } from '@detour/protocol';
import { MAX_ENV_BYTES } from '@detour/protocol';
import type { AuditList, EgressNames, Intercept, ManagerInfo, PreviewList, RecentLogs, ServiceEnvironment, SessionInfo, TokenCreated, TokenList } from '@detour/protocol';
import { DetourError, LOG_RING_DEFAULTS } from '@detour/core';
import type { Logger } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import type { AgentWatch } from './agent-watch.js';
import type { ApiExchange } from './api-exchange.js';
import type { AuditEvent, AuditLog } from './auth/audit-log.js';
import type { AuthSource } from './auth/auth-source.js';
import type { Identity } from './auth/identities.js';
import { checkInterceptPolicy, checkOwnerAction, checkServicePolicy } from './auth/permissions.js';
import type { Permission } from './auth/permissions.js';
import type { LogCollection } from './log-collection.js';
import type { ManagerMetrics } from './metrics.js';
import type { PreviewRegistry } from './previews/preview-registry.js';
import { checkEntryAnswers, entryUrl, previewHeaders, previewRoute, previewView } from './previews/preview-views.js';
import type { Grants, RouteAuth } from './route-auth.js';
import type { RoutingKeyRing } from './routing-keys.js';
import { signOwnMatchers } from './routing-keys.js';
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
  /** Who holds which credential (auth/). */
  auth: AuthSource;
  audit: AuditLog;
  /** `--signed-keys`: signs developers' values; absent when the manager signs nothing. */
  routingKeys: RoutingKeyRing | undefined;
  /** The outbound name policy (`--egress`), told to daemons in `/v1/info`. */
  egress: EgressNames;
}

/** The signed value an intercept's owner sends now (`--signed-keys`), which previews of it send too. */
function signedValueOf(context: ApiContext, intercept: Pick<Intercept, 'owner'>): string | undefined {
  const session = context.state.getSession(intercept.owner.sessionId);
  return session === undefined ? undefined : ownView(context, session).signedValue?.value;
}

/** A session as its daemon sees it: with its signed value when the manager signs. */
function ownView(context: ApiContext, session: SessionInfo): SessionInfo {
  return context.routingKeys === undefined ? session : context.routingKeys.withSignedValue(session);
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
  /** What the caller's role must allow (auth/permissions.ts). */
  permission: Permission;
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

async function readJson<T>(exchange: ApiExchange, schema: z.ZodType<T>, maxBytes = MAX_BODY_BYTES): Promise<T> {
  const body = await readBody(exchange, maxBytes);
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

/** One audit line for a call, naming the identity and, in single-token mode, the `--name` it acted under. */
function audit(context: ApiContext, exchange: ApiExchange, identity: Identity, event: Omit<AuditEvent, 'from'>, onBehalfOf?: string): void {
  const details = identity.shared && onBehalfOf !== undefined ? { ...event.details, name: onBehalfOf } : event.details;
  context.audit.record(identity, { ...event, from: exchange.remote, ...(details === undefined ? {} : { details }) });
}

/** Removes an intercept whoever holds it, tells the agents and waits for them and the store. */
async function removeIntercept(context: ApiContext, interceptId: string, service: string): Promise<void> {
  context.hub.push(context.state.dropIntercept(interceptId));
  await publish(context, new Set([service]));
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
    permission: 'read',
    handler: async (context, exchange) => {
      const info: ManagerInfo = {
        version: context.version,
        leaseMs: context.state.leaseMs,
        globalAllowed: context.state.globalAllowed,
        signedKeys: context.routingKeys !== undefined,
        ...(context.previewUrl === undefined ? {} : { previewUrl: context.previewUrl }),
        egress: context.egress,
      };
      exchange.send(200, info);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/sessions$/,
    auth: 'token',
    permission: 'develop',
    handler: async (context, exchange, { identity }) => {
      const request = await readJson(exchange, SessionCreateSchema);
      const { session, key, changed } = context.state.createSession(request, identity.shared ? undefined : identity.name);
      context.hub.push(changed);
      context.logger.info({ sessionId: session.id, name: session.name }, 'session opened');
      audit(context, exchange, identity, { action: 'session.open', details: { sessionId: session.id } }, session.name);
      exchange.send(201, { session: ownView(context, session), key });
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/sessions\/(?<sessionId>[^/]+)$/,
    auth: 'session',
    permission: 'develop',
    handler: async (context, exchange, { session }) => {
      exchange.send(200, ownView(context, session));
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/sessions\/(?<sessionId>[^/]+)\/heartbeat$/,
    auth: 'session',
    permission: 'develop',
    handler: async (context, exchange, { session }) => {
      exchange.send(200, ownView(context, context.state.heartbeat(session.id)));
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/sessions\/(?<sessionId>[^/]+)$/,
    auth: 'session',
    permission: 'develop',
    handler: async (context, exchange, { identity, session }) => {
      const changed = context.state.endSession(session.id);
      context.routingKeys?.forget(session.id);
      context.tunnels.drop(session.id);
      context.logger.info({ sessionId: session.id }, 'session closed');
      audit(context, exchange, identity, { action: 'session.close', details: { sessionId: session.id } }, session.name);
      await publish(context, changed);
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/services$/,
    auth: 'token',
    permission: 'read',
    handler: async (context, exchange) => {
      exchange.send(200, { services: context.state.services() });
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/services\/(?<service>[^/]+)\/environment$/,
    // A developer's session, as for creating an intercept: whoever may intercept the service may run
    // its copy with its environment. The values are secrets: logged is only who read how many.
    auth: 'caller-session',
    permission: 'develop',
    handler: async (context, exchange, request) => {
      const service = request.param('service');
      checkServicePolicy(request.identity, service, 'read the app environment of');
      const published = context.state.serviceEnvironment(service);
      if (published === undefined) {
        const agents = context.state.agentsOf(service);
        throw new DetourError(
          'DETOUR_ERR_ENV_NOT_PUBLISHED',
          agents.length === 0
            ? `no agent of ${service} is connected, so no environment of it is known; start one (\`detour agent --service ${service} … --env-file F\`)`
            : `no agent of ${service} published its app's environment (${agents.map((a) => a.id).join(', ')}); start them with \`detour agent … --env-file F\`, F being the .env file the app runs with`,
          { details: { service, agents: agents.length } },
        );
      }
      context.logger.info({ sessionId: request.session.id, name: request.session.name, service, agentId: published.agentId, variables: published.variables.length }, 'service environment read');
      const body: ServiceEnvironment = { service, agentId: published.agentId, variables: published.variables };
      exchange.send(200, body);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/intercepts$/,
    auth: 'caller-session',
    permission: 'develop',
    handler: async (context, exchange, { identity, session }) => {
      // The session's header value is the identity's (trust), so what gets signed is the identity's own value.
      const request = signOwnMatchers(await readJson(exchange, InterceptRequestSchema), session, context.routingKeys !== undefined);
      const what = { service: request.service, intercept: request.name, global: request.global, headers: request.headers.map((h) => h.name) };
      checkInterceptPolicy(identity, request, context.state.interceptCountOf(session.name, request.id));
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
        audit(context, exchange, identity, { action: created ? 'intercept.create' : 'intercept.reclaim', details: { ...what, interceptId: intercept.id } }, session.name);
      }
      exchange.send(created ? 201 : 200, context.state.getIntercept(intercept.id) ?? intercept);
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/intercepts\/(?<interceptId>[^/]+)$/,
    auth: 'intercept-owner',
    permission: 'develop',
    handler: async (context, exchange, { identity, session, intercept }) => {
      context.state.removeIntercept(session.id, intercept.id);
      context.logger.info({ interceptId: intercept.id, service: intercept.service }, 'intercept removed');
      audit(context, exchange, identity, { action: 'intercept.remove', details: { service: intercept.service, intercept: intercept.name, owner: intercept.owner.name } }, session.name);
      await publish(context, new Set([intercept.service]));
      exchange.send(204);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/intercepts\/(?<interceptId>[^/]+)\/previews$/,
    auth: 'intercept-owner',
    permission: 'develop',
    handler: async (context, exchange, { identity, session, intercept }) => {
      const request = await readJson(exchange, PreviewCreateSchema);
      if (context.previewUrl === undefined) {
        throw new DetourError('DETOUR_ERR_PREVIEW_DISABLED', 'this manager has no preview gateway; start it with --preview-listen PORT (or point it at one with --preview-url URL)');
      }
      previewHeaders(intercept, (i) => signedValueOf(context, i));
      const entry = request.entry ?? { kind: 'service' as const, service: intercept.service };
      await checkEntryAnswers(entryUrl(entry, context.state));
      const record = context.previews.create(intercept, entry, request.ttlMs);
      await context.persisted();
      context.logger.info({ interceptId: intercept.id, preview: record.hint, expiresAt: new Date(record.expiresAt).toISOString() }, 'preview created');
      audit(context, exchange, identity, { action: 'preview.create', details: { service: intercept.service, intercept: intercept.name, preview: record.hint, expiresAt: new Date(record.expiresAt).toISOString() } }, session.name);
      exchange.send(201, previewView(record, intercept, context.previewUrl));
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/intercepts\/(?<interceptId>[^/]+)\/previews\/(?<previewRef>[^/]+)$/,
    auth: 'intercept-owner',
    permission: 'develop',
    handler: async (context, exchange, request) => {
      const record = context.previews.remove(request.intercept.id, request.param('previewRef'));
      await context.persisted();
      context.logger.info({ interceptId: request.intercept.id, preview: record.hint }, 'preview removed');
      audit(context, exchange, request.identity, { action: 'preview.remove', details: { service: request.intercept.service, intercept: request.intercept.name, preview: record.hint } }, request.session.name);
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/previews$/,
    auth: 'caller-session',
    permission: 'develop',
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
    // The gateway holds the manager token (with identities: an agent's, it serves like one). The id is the secret a visitor brings; it is never logged whole.
    auth: 'token',
    permission: 'serve',
    handler: async (context, exchange, request) => {
      const id = PreviewIdSchema.safeParse(request.param('previewId'));
      const record = id.success ? context.previews.lookup(id.data) : undefined;
      const intercept = record === undefined ? undefined : context.state.getIntercept(record.interceptId);
      if (record === undefined || intercept === undefined) {
        throw new DetourError('DETOUR_ERR_PREVIEW_NOT_FOUND', 'no such preview: unknown, revoked with its intercept, or expired');
      }
      exchange.send(200, previewRoute(record, intercept, context.state, (i) => signedValueOf(context, i)));
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/owners\/(?<owner>[^/]+)\/intercepts\/(?<name>[^/]+)$/,
    // `detour leave NAME --owner WHO`: an admin ends anyone's intercept; a developer is refused for another's.
    auth: 'token',
    permission: 'develop',
    handler: async (context, exchange, { identity, param }) => {
      const owner = param('owner');
      const name = param('name');
      checkOwnerAction(identity, owner, `leave the intercept ${name}`);
      const intercept = context.state.findIntercept(owner, name);
      if (intercept === undefined) throw new DetourError('DETOUR_ERR_INTERCEPT_NOT_FOUND', `${owner} has no intercept named ${name}; \`detour list\` shows every intercept and its owner`);
      context.logger.info({ interceptId: intercept.id, service: intercept.service, owner, by: identity.name }, 'intercept removed by an admin');
      audit(context, exchange, identity, { action: 'intercept.remove', details: { service: intercept.service, intercept: name, owner } });
      await removeIntercept(context, intercept.id, intercept.service);
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/tokens$/,
    auth: 'token',
    permission: 'administer',
    handler: async (context, exchange) => {
      const list: TokenList = { identities: context.auth.book.list(Date.now()) };
      exchange.send(200, list);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/tokens$/,
    auth: 'token',
    permission: 'administer',
    handler: async (context, exchange, { identity }) => {
      const request = await readJson(exchange, TokenCreateSchema);
      const created: TokenCreated = await context.auth.create(request);
      context.logger.info({ identity: request.name, role: request.role, by: identity.name }, 'identity created');
      audit(context, exchange, identity, { action: 'token.create', details: { name: request.name, role: request.role, ...(request.services === undefined ? {} : { services: request.services }), ...(created.identity.expiresAt === undefined ? {} : { expiresAt: new Date(created.identity.expiresAt).toISOString() }) } });
      exchange.send(201, created);
    },
  }),
  route({
    method: 'DELETE',
    pattern: /^\/tokens\/(?<name>[^/]+)$/,
    auth: 'token',
    permission: 'administer',
    handler: async (context, exchange, { identity, param }) => {
      const name = param('name');
      await context.auth.revoke(name);
      context.logger.info({ identity: name, by: identity.name }, 'identity revoked');
      audit(context, exchange, identity, { action: 'token.revoke', details: { name } });
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/audit$/,
    auth: 'token',
    permission: 'administer',
    handler: async (context, exchange) => {
      const since = Number(exchange.url.searchParams.get('since') ?? 0);
      if (!Number.isFinite(since)) throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', 'since must be epoch milliseconds');
      const list: AuditList = { entries: context.audit.since(since) };
      exchange.send(200, list);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/agents\/watch$/,
    auth: 'token',
    permission: 'serve',
    handler: async (context, exchange, { identity }) => {
      // HTTP/2 only: the watch stream is what authenticates an agent's session for its relay streams.
      if (exchange.h2Stream === undefined) throw notFound(exchange);
      context.watches.open(exchange.h2Stream, exchange.url.searchParams, identity.name);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/agents\/(?<agentId>[^/]+)\/data-session$/,
    auth: 'token',
    permission: 'serve',
    handler: async (context, exchange, request) => {
      // HTTP/2 only: authenticates the session it arrives on for the relay streams of an agent watching under the same identity.
      if (exchange.h2Stream === undefined) throw notFound(exchange);
      context.watches.openData(exchange.h2Stream, request.param('agentId'), request.identity.name);
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/agents\/(?<agentId>[^/]+)\/ack$/,
    auth: 'token',
    permission: 'serve',
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
    method: 'POST',
    pattern: /^\/agents\/(?<agentId>[^/]+)\/environment$/,
    auth: 'token',
    permission: 'serve',
    handler: async (context, exchange, request) => {
      const agentId = request.param('agentId');
      // Only on the agent's own link: the token alone does not make a caller that agent.
      if (!context.watches.carries(exchange.h2Stream?.session, agentId)) {
        throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no agent ${agentId} is watching on this connection; an agent publishes its environment on the HTTP/2 session of its watch`);
      }
      // JSON escaping can make the text several times the bytes the schema bounds.
      const { variables } = await readJson(exchange, AgentEnvironmentSchema, 6 * MAX_ENV_BYTES + MAX_BODY_BYTES);
      const agent = context.state.setAgentEnvironment(agentId, variables);
      if (agent === undefined) throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no agent ${agentId} is watching`);
      context.logger.info({ agentId, service: agent.service, variables: variables.length }, 'agent published its app environment');
      exchange.send(204);
    },
  }),
  route({
    method: 'GET',
    pattern: /^\/metrics$/,
    unversioned: true,
    auth: 'token',
    permission: 'read',
    handler: async (context, exchange) => {
      const { registry } = context.metrics;
      exchange.sendText(200, registry.contentType, await registry.metrics());
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/traces$/,
    auth: 'token',
    permission: 'develop',
    handler: async (context, exchange, { identity }) => {
      const trace = await readJson(exchange, TraceRequestSchema);
      // A trace pushes a probe rule to the service's agents and sends it a request: the same services rule as intercepting it.
      checkServicePolicy(identity, trace.service, 'trace');
      exchange.send(200, await runTrace(context, trace));
    },
  }),
  route({
    method: 'POST',
    pattern: /^\/traces\/(?<traceId>[^/]+)\/sightings$/,
    auth: 'token',
    permission: 'serve',
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
    permission: 'develop',
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
    permission: 'serve',
    handler: async (context, exchange, request) => {
      // NDJSON as the agent's ring holds it, which never exceeds the ring's byte bound.
      const log = (await readBody(exchange, LOG_RING_DEFAULTS.maxBytes)).toString('utf8');
      context.logs.record(request.param('requestId'), request.param('agentId'), log);
      exchange.send(204);
    },
  }),
];
