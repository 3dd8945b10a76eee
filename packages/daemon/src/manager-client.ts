import type { Duplex } from 'node:stream';
import { Pool, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import {
  API_PATHS,
  ErrorBodySchema,
  InterceptSchema,
  ManagerInfoSchema,
  PreviewListSchema,
  PreviewSchema,
  RecentLogsSchema,
  SESSION_KEY_HEADER,
  ServiceEnvironmentSchema,
  ServiceListSchema,
  AuditListSchema,
  TokenCreatedSchema,
  TokenListSchema,
  SessionCreatedSchema,
  SessionInfoSchema,
  TraceResultSchema,
} from '@detour/protocol';
import type {
  AuditList,
  Intercept,
  InterceptRequest,
  ManagerInfo,
  Preview,
  PreviewCreate,
  PreviewList,
  RecentLogs,
  ServiceEnvironment,
  ServiceList,
  SessionCreate,
  SessionCreated,
  SessionInfo,
  TokenCreate,
  TokenCreated,
  TokenList,
  TraceRequest,
  TraceResult,
} from '@detour/protocol';
import { DetourError, errorFromBody } from '@detour/core';
import { managerTlsFailure } from '@detour/transport';
import type { ManagerEndpoint } from '@detour/transport';

const REQUEST_TIMEOUT_MS = 20_000;

/** The manager's JSON API over HTTP/1.1 (undici), used by the daemon; over TLS as the endpoint says. */
export class ManagerClient {
  readonly url: string;
  readonly endpoint: ManagerEndpoint;
  readonly #token: string;
  readonly #pool: Pool;

  constructor(endpoint: ManagerEndpoint, token: string) {
    this.endpoint = endpoint;
    this.url = endpoint.origin;
    this.#token = token;
    this.#pool = new Pool(this.url, {
      connections: 4,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      ...(endpoint.tls === undefined ? {} : { connect: { ...endpoint.tls } }),
    });
  }

  /** `GET /v1/tunnel` with `Upgrade: detour-tunnel` on this client's connections (and so its TLS); resolves with the raw socket. */
  async upgradeTunnel(protocol: string, key: string): Promise<Duplex> {
    try {
      const { socket } = await this.#pool.upgrade({ path: API_PATHS.tunnel, protocol, headers: this.authHeaders(key) });
      return socket;
    } catch (err) {
      throw managerTlsFailure(err, this.endpoint) ?? err;
    }
  }

  info(): Promise<ManagerInfo> {
    return this.#call('GET', API_PATHS.info, { schema: ManagerInfoSchema });
  }

  createSession(body: SessionCreate): Promise<SessionCreated> {
    return this.#call('POST', API_PATHS.sessions, { body, schema: SessionCreatedSchema });
  }

  heartbeat(sessionId: string, key: string): Promise<SessionInfo> {
    return this.#call('POST', API_PATHS.heartbeat(sessionId), { key, schema: SessionInfoSchema });
  }

  endSession(sessionId: string, key: string): Promise<void> {
    return this.#call('DELETE', API_PATHS.session(sessionId), { key });
  }

  services(): Promise<ServiceList> {
    return this.#call('GET', API_PATHS.services, { schema: ServiceListSchema });
  }

  /** What an agent of `service` published of its app's environment (secret values: the caller writes them only where the developer asked). */
  serviceEnvironment(service: string, key: string): Promise<ServiceEnvironment> {
    return this.#call('GET', API_PATHS.serviceEnvironment(service), { key, schema: ServiceEnvironmentSchema });
  }

  createIntercept(body: InterceptRequest, key: string): Promise<Intercept> {
    return this.#call('POST', API_PATHS.intercepts, { body, key, schema: InterceptSchema });
  }

  removeIntercept(id: string, key: string): Promise<void> {
    return this.#call('DELETE', API_PATHS.intercept(id), { key });
  }

  /** Ends another identity's intercept by owner and name (admins). */
  removeOwnedIntercept(owner: string, name: string): Promise<void> {
    return this.#call('DELETE', API_PATHS.ownedIntercept(owner, name), {});
  }

  tokens(): Promise<TokenList> {
    return this.#call('GET', API_PATHS.tokens, { schema: TokenListSchema });
  }

  createToken(body: TokenCreate): Promise<TokenCreated> {
    return this.#call('POST', API_PATHS.tokens, { body, schema: TokenCreatedSchema });
  }

  revokeToken(name: string): Promise<void> {
    return this.#call('DELETE', API_PATHS.token(name), {});
  }

  audit(sinceMs: number): Promise<AuditList> {
    return this.#call('GET', `${API_PATHS.audit}?since=${sinceMs}`, { schema: AuditListSchema });
  }

  createPreview(interceptId: string, body: PreviewCreate, key: string): Promise<Preview> {
    return this.#call('POST', API_PATHS.interceptPreviews(interceptId), { body, key, schema: PreviewSchema });
  }

  /** The previews of the session's intercepts. */
  previews(key: string): Promise<PreviewList> {
    return this.#call('GET', API_PATHS.previews, { key, schema: PreviewListSchema });
  }

  removePreview(interceptId: string, ref: string, key: string): Promise<void> {
    return this.#call('DELETE', API_PATHS.interceptPreview(interceptId, ref), { key });
  }

  /** Answers when the probe has finished, within the manager's trace deadline (10 s), well inside REQUEST_TIMEOUT_MS. */
  trace(body: TraceRequest): Promise<TraceResult> {
    return this.#call('POST', API_PATHS.traces, { body, schema: TraceResultSchema });
  }

  /**
   * The manager's and its agents' recent log lines (`detour gather-logs`; the manager waits ≤ 2 s for agents).
   * They are redacted where they were written; the two secrets this client holds, the token and the session
   * key, are also cut out of the text here, so not even a line logged by mistake carries them off the laptop.
   */
  async recentLogs(key: string): Promise<RecentLogs> {
    const logs = await this.#call('GET', API_PATHS.logs, { key, schema: RecentLogsSchema });
    const scrub = (text: string) => text.replaceAll(this.#token, '[redacted]').replaceAll(key, '[redacted]');
    return {
      manager: { ...logs.manager, log: scrub(logs.manager.log) },
      agents: logs.agents.map((agent) => ({ ...agent, log: scrub(agent.log) })),
      missing: logs.missing,
    };
  }

  /** Headers that authenticate a call; the tunnel upgrade sends the same. */
  authHeaders(key?: string): Record<string, string> {
    return { authorization: `Bearer ${this.#token}`, ...(key === undefined ? {} : { [SESSION_KEY_HEADER]: key }) };
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  async #call<T = void>(method: 'GET' | 'POST' | 'DELETE', path: string, options: { body?: unknown; key?: string; schema?: z.ZodType<T> }): Promise<T> {
    const headers: Record<string, string> = this.authHeaders(options.key);
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.url}${path}`, {
        dispatcher: this.#pool,
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
    } catch (err) {
      throw managerTlsFailure(err, this.endpoint) ?? err;
    }
    const text = await response.body.text();
    if (response.statusCode >= 400) {
      const parsed = ErrorBodySchema.safeParse(safeJson(text));
      if (parsed.success) throw errorFromBody(parsed.data);
      throw new DetourError('DETOUR_ERR_INTERNAL_BUG', `manager answered ${response.statusCode} to ${method} ${path}`);
    }
    if (options.schema === undefined) return undefined as T;
    return options.schema.parse(safeJson(text));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
