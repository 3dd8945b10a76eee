import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { AGENT_PROTOCOLS, AgentWatchQuerySchema } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import type { ManagerState } from './state.js';

/** What the manager knows about one agent's HTTP/2 session. */
interface AgentSession {
  /**
   * Set once a watch stream, or a data-session stream of a watching agent, with
   * the right token was accepted on the session; relay streams on it need no
   * token of their own.
   */
  watched: boolean;
  /** The identity whose token opened the watch: when it is revoked, the session is closed. */
  identity?: string;
  /** The agents whose watch streams this session carries: only they may publish as those agents on it. */
  agents: Set<string>;
}

/**
 * The agents' HTTP/2 sessions and their watch streams: `GET /v1/agents/watch`
 * answers with an NDJSON stream of the service's rule sets (one line per
 * version, pushed by the {@link AgentHub}) for as long as the agent stays.
 */
export class AgentWatch {
  readonly #hub: AgentHub;
  readonly #state: ManagerState;
  readonly #logger: Logger;
  readonly #sessions = new Map<Http2Session, AgentSession>();

  constructor(options: { hub: AgentHub; state: ManagerState; logger: Logger }) {
    this.#hub = options.hub;
    this.#state = options.state;
    this.#logger = options.logger;
  }

  /** Starts tracking a new HTTP/2 session, until it closes. */
  track(session: Http2Session): void {
    this.#sessions.set(session, { watched: false, agents: new Set() });
    session.once('close', () => this.#sessions.delete(session));
  }

  /** Whether an accepted watch stream authenticated this session. */
  watched(session: Http2Session | undefined): boolean {
    return session !== undefined && this.#sessions.get(session)?.watched === true;
  }

  /** Whether `agentId`'s watch stream runs on this session (what an agent posts about itself must come on its own link). */
  carries(session: Http2Session | undefined, agentId: string): boolean {
    return session !== undefined && this.#sessions.get(session)?.agents.has(agentId) === true;
  }

  /**
   * Accepts a watch stream whose token the gate has checked. Runs synchronously
   * from the stream's HEADERS: the streams an agent opens after its watch are
   * dispatched after this returns (RFC 9113 §5.1.1: stream ids increase), so
   * they find the session authenticated.
   */
  open(stream: ServerHttp2Stream, searchParams: URLSearchParams, identity: string): void {
    const parsed = AgentWatchQuerySchema.safeParse(firstOfEach(searchParams));
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(query)'}: ${issue.message}`);
      throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', `watch needs ?service=<name>&agentId=<id>[&protocol=${AGENT_PROTOCOLS.join('|')}]`, { details: { problems } });
    }
    const { service, agentId, listen, protocol } = parsed.data;
    const session = stream.session === undefined ? undefined : this.#sessions.get(stream.session);
    if (session !== undefined) {
      session.watched = true;
      session.identity = identity;
      session.agents.add(agentId);
    }
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
    this.#state.addAgent({ id: agentId, service, listen, protocol });
    this.#logger.info({ agentId, service, listen, protocol }, 'agent connected');
    const sink = { write: (line: string) => void (stream.writable && stream.write(line)) };
    this.#hub.attach(agentId, service, sink);
    stream.resume();
    stream.on('close', () => {
      session?.agents.delete(agentId);
      this.#hub.detach(agentId, sink);
      this.#logger.info({ agentId, service }, 'agent disconnected');
    });
  }

  /**
   * Accepts the first stream of an agent's data session (token checked by the
   * gate): the session then carries that agent's relay streams, apart from its
   * watch, so that a GOAWAY on it (a caller cancelling streams faster than the
   * server's rapid-reset limit) costs the streams on it and not the agent's
   * registration. Synchronous from HEADERS, like {@link open}.
   */
  openData(stream: ServerHttp2Stream, agentId: string, identity: string): void {
    const watching = [...this.#sessions.values()].some((s) => s.identity === identity && s.agents.has(agentId));
    if (!watching) {
      throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no agent ${agentId} is watching with this credential; open the watch stream first`);
    }
    const session = stream.session === undefined ? undefined : this.#sessions.get(stream.session);
    if (session !== undefined) {
      // The identity too, so that revoking it drops the data sessions with the watch.
      session.watched = true;
      session.identity = identity;
    }
    stream.respond({ ':status': 204 }, { endStream: true });
    this.#logger.debug({ agentId }, 'agent data session opened');
  }

  /** Closes the HTTP/2 sessions of agents whose identity fails `keep` (revoked or expired): their watch and relay streams end with them. */
  dropUnless(keep: (identity: string) => boolean): number {
    let dropped = 0;
    for (const [session, agent] of this.#sessions) {
      if (agent.identity === undefined || keep(agent.identity)) continue;
      session.destroy();
      dropped++;
    }
    return dropped;
  }

  destroyAll(): void {
    for (const session of this.#sessions.keys()) session.destroy();
  }
}

/** `URLSearchParams.get` semantics for every key: a repeated key counts by its first value. */
function firstOfEach(searchParams: URLSearchParams): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of searchParams) query[key] ??= value;
  return query;
}
