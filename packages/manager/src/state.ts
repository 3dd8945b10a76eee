import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { AgentInfo, Intercept, InterceptRequest, Probe, RoutingKey, RuleSet, ServiceInfo, SessionCreate, SessionInfo } from '@detour/protocol';
import { DetourError, matcherKey, validateMatchers } from '@detour/core';
import type { EnvVariable } from '@detour/core';
import type { StoredIntercept } from './store/intercept-store.js';

/**
 * The manager's state as plain data, with no sockets: sessions and their leases,
 * intercepts, and which agents serve which service. Every mutation returns the
 * services whose rule sets changed so that the caller can push them to agents.
 */

interface Session {
  info: SessionInfo;
  key: Buffer;
  /** clientHash() of info.clientId, what a restored intercept's owner is recognised by. */
  clientHash: string;
}

/** A restored intercept whose session died with the previous manager process. */
interface Orphan {
  clientHash: string;
  /** It is dropped if its daemon has not re-asserted it by then, as a silent session's lease would end. */
  expiresAt: number;
}

/** How a stored intercept names its owner's daemon home without storing its clientId (see StoredIntercept). */
export function clientHash(clientId: string): string {
  return createHash('sha256').update(clientId).digest('hex');
}

interface AgentRecord {
  info: AgentInfo;
  /** What the agent published of its app's environment (`detour agent --env-file`); secret, so never part of `info`. */
  environment?: EnvVariable[];
}

export interface ManagerStateOptions {
  leaseMs: number;
  globalAllowed: boolean;
  now?: () => number;
  /**
   * Called (synchronously) after every change of what a store holds: an
   * intercept added, replaced, removed, or gone online or offline. The manager
   * schedules a save from it; the state itself does no I/O.
   */
  onInterceptsChanged?: () => void;
  /** The keys signed matchers are verified with (`--signed-keys`), sent in every rule set; absent: none. */
  routingKeys?: () => RoutingKey[];
}

export class ManagerState {
  readonly leaseMs: number;
  readonly globalAllowed: boolean;
  readonly #now: () => number;
  readonly #sessions = new Map<string, Session>();
  readonly #intercepts = new Map<string, Intercept>();
  readonly #orphans = new Map<string, Orphan>();
  readonly #onInterceptsChanged: () => void;
  readonly #routingKeys: (() => RoutingKey[]) | undefined;
  readonly #agents = new Map<string, AgentRecord>();
  /** Propagation probes of running traces; they go to every service's agents, since a probe may reach any. */
  readonly #probes = new Map<string, Probe>();
  /** Rule-set versions are manager-wide and start at the boot time in ms, so a restarted manager never reuses a version an agent has seen. */
  #version: number;
  readonly #serviceVersions = new Map<string, number>();
  #sequence = 0;

  constructor(options: ManagerStateOptions) {
    this.leaseMs = options.leaseMs;
    this.globalAllowed = options.globalAllowed;
    this.#now = options.now ?? Date.now;
    this.#onInterceptsChanged = options.onInterceptsChanged ?? (() => undefined);
    this.#routingKeys = options.routingKeys;
    this.#version = this.#now();
  }

  // ── sessions ────────────────────────────────────────────────────────────

  /**
   * Opens a session. A daemon home (clientId) has one session at a time: a new
   * one from the same home replaces the old, whose daemon must have died.
   * `identity`, when the token names one, is the session's name instead of the request's,
   * and the start of its header value (as the daemon derives it, from the name and a hash
   * of the home's clientId), so no `--name` puts another's name on a routing key.
   */
  createSession(given: SessionCreate, identity?: string): { session: SessionInfo; key: string; changed: Set<string> } {
    const request = identity === undefined ? given : { ...given, name: identity, headerValue: `${identity}-${clientHash(given.clientId).slice(0, 6)}` };
    const changed = new Set<string>();
    for (const existing of this.#sessions.values()) {
      if (existing.info.clientId === request.clientId) {
        for (const service of this.endSession(existing.info.id)) changed.add(service);
      } else if (existing.info.headerValue === request.headerValue) {
        throw new DetourError('DETOUR_ERR_SESSION_NAME_TAKEN', `header value ${request.headerValue} is already used by ${existing.info.name}; connect with another --name`, {
          details: { owner: existing.info.name },
        });
      }
    }
    const now = this.#now();
    const key = randomBytes(24).toString('base64url');
    const info: SessionInfo = {
      id: randomUUID(),
      // With identities the owner is who the token says, whatever `--name` the daemon sent (issue 13).
      name: request.name,
      clientId: request.clientId,
      headerValue: request.headerValue,
      leaseMs: this.leaseMs,
      expiresAt: now + this.leaseMs,
      tunnel: 'disconnected',
      createdAt: now,
    };
    this.#sessions.set(info.id, { info, key: Buffer.from(key), clientHash: clientHash(request.clientId) });
    return { session: { ...info }, key, changed };
  }

  /** Returns the session after checking that `key` proves ownership of it. */
  authorizeSession(sessionId: string, key: string | undefined): SessionInfo {
    const session = this.#sessions.get(sessionId);
    if (session === undefined) {
      throw new DetourError('DETOUR_ERR_SESSION_UNKNOWN', `session ${sessionId} does not exist; it expired or the manager restarted`);
    }
    const given = Buffer.from(key ?? '');
    if (given.length !== session.key.length || !timingSafeEqual(given, session.key)) {
      throw new DetourError('DETOUR_ERR_SESSION_BAD_KEY', 'the session key does not match this session');
    }
    return session.info;
  }

  /** Finds the session a key belongs to, for calls that do not name their session. */
  sessionForKey(key: string | undefined): SessionInfo {
    if (key !== undefined) {
      const given = Buffer.from(key);
      for (const session of this.#sessions.values()) {
        if (given.length === session.key.length && timingSafeEqual(given, session.key)) return session.info;
      }
    }
    throw new DetourError('DETOUR_ERR_SESSION_UNKNOWN', 'no session has this session key; it expired or the manager restarted');
  }

  heartbeat(sessionId: string): SessionInfo {
    const session = this.#mustSession(sessionId);
    session.info.expiresAt = this.#now() + this.leaseMs;
    return { ...session.info };
  }

  /** Every open session, as copies. */
  sessions(): SessionInfo[] {
    return [...this.#sessions.values()].map((session) => ({ ...session.info }));
  }

  getSession(sessionId: string): SessionInfo | undefined {
    const session = this.#sessions.get(sessionId);
    return session === undefined ? undefined : { ...session.info };
  }

  /** Ends every session whose owner name fails `keep` (its identity was revoked or expired); returns them and the services that changed. */
  endSessionsUnless(keep: (name: string) => boolean): { ended: SessionInfo[]; changed: Set<string> } {
    const ended: SessionInfo[] = [];
    const changed = new Set<string>();
    for (const session of [...this.#sessions.values()]) {
      if (keep(session.info.name)) continue;
      ended.push({ ...session.info });
      for (const service of this.endSession(session.info.id)) changed.add(service);
    }
    return { ended, changed };
  }

  /** Removes a session and its intercepts. */
  endSession(sessionId: string): Set<string> {
    const changed = new Set<string>();
    if (!this.#sessions.delete(sessionId)) return changed;
    for (const intercept of [...this.#intercepts.values()]) {
      if (intercept.owner.sessionId === sessionId) {
        this.#intercepts.delete(intercept.id);
        changed.add(intercept.service);
      }
    }
    this.#changed(changed);
    return changed;
  }

  /**
   * Ends every session whose lease ran out, and drops the restored intercepts
   * (`abandoned`) that no daemon re-asserted within a lease of the restart.
   */
  expireSessions(): { expired: SessionInfo[]; abandoned: Intercept[]; changed: Set<string> } {
    const now = this.#now();
    const expired: SessionInfo[] = [];
    const changed = new Set<string>();
    for (const session of [...this.#sessions.values()]) {
      if (session.info.expiresAt <= now) {
        expired.push({ ...session.info });
        for (const service of this.endSession(session.info.id)) changed.add(service);
      }
    }
    const abandoned: Intercept[] = [];
    for (const [id, orphan] of [...this.#orphans]) {
      const intercept = this.#intercepts.get(id);
      if (orphan.expiresAt > now || intercept === undefined) continue;
      abandoned.push(intercept);
      this.#orphans.delete(id);
      this.#intercepts.delete(id);
      changed.add(intercept.service);
    }
    if (abandoned.length > 0) this.#changed(new Set(abandoned.map((i) => i.service)));
    return { expired, abandoned, changed };
  }

  /** Marks a session's tunnel up or down; its intercepts go online or offline with it. */
  setTunnel(sessionId: string, connected: boolean): Set<string> {
    const changed = new Set<string>();
    const session = this.#sessions.get(sessionId);
    if (session === undefined) return changed;
    session.info.tunnel = connected ? 'connected' : 'disconnected';
    for (const intercept of this.#intercepts.values()) {
      if (intercept.owner.sessionId === sessionId && intercept.online !== connected) {
        intercept.online = connected;
        changed.add(intercept.service);
      }
    }
    this.#changed(changed);
    return changed;
  }

  // ── intercepts ──────────────────────────────────────────────────────────

  /**
   * Adds an intercept after every check, or throws without changing anything.
   * Re-asserting an intercept this session already holds (same id, same
   * matchers) is idempotent: daemons do it after every reconnect. Re-asserting a
   * restored one from the daemon home that made it reclaims it (`reclaimed`:
   * same intercept, new owner session), so a manager restart makes no duplicate
   * and no conflict.
   */
  addIntercept(sessionId: string, request: InterceptRequest): { intercept: Intercept; created: boolean; reclaimed: boolean } {
    const record = this.#mustSession(sessionId);
    const session = record.info;
    const existing = this.#intercepts.get(request.id);
    // A restored intercept goes back to the daemon home that made it, whatever its new session is.
    const reclaimed = existing !== undefined && this.#orphans.get(request.id)?.clientHash === record.clientHash;
    if (existing !== undefined && existing.owner.sessionId !== sessionId && !reclaimed) {
      throw new DetourError('DETOUR_ERR_INTERCEPT_FORBIDDEN', `intercept ${request.id} belongs to ${existing.owner.name}`, { details: { owner: existing.owner.name } });
    }
    if (existing !== undefined && matcherKey(existing) === matcherKey(request) && existing.service === request.service) {
      if (!reclaimed) return { intercept: { ...existing }, created: false, reclaimed: false };
      this.#orphans.delete(request.id);
      existing.owner = { sessionId, name: session.name, headerValue: session.headerValue };
      existing.online = session.tunnel === 'connected';
      this.#changed(new Set([existing.service]));
      return { intercept: { ...existing }, created: false, reclaimed: true };
    }
    if (!this.knownServices().has(request.service)) {
      const known = [...this.knownServices()].sort();
      throw new DetourError(
        'DETOUR_ERR_INTERCEPT_UNKNOWN_SERVICE',
        `no agent serves ${request.service}; known services: ${known.length === 0 ? '(none)' : known.join(', ')}`,
        { details: { service: request.service, known } },
      );
    }
    validateMatchers(request);
    this.#checkMechanism(request);
    if (request.mode === 'wiretap' && (request.global || request.onDisconnect === 'fail' || request.fallthrough !== undefined)) {
      // The CLI refuses these first; this keeps other API clients from creating a wiretap that would take or fail traffic.
      throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', 'a wiretap only copies requests: it cannot be global, use --on-disconnect fail, or fall through');
    }
    // A wiretap takes no request from anyone: it conflicts with nothing, and nothing with it.
    const onService =
      request.mode === 'wiretap' ? [] : [...this.#intercepts.values()].filter((i) => i.service === request.service && i.id !== request.id && i.mode !== 'wiretap');
    if (request.global) {
      if (!this.globalAllowed) {
        throw new DetourError('DETOUR_ERR_INTERCEPT_GLOBAL_DISABLED', 'this manager refuses global intercepts (--no-global); use a header or path matcher');
      }
      if (onService.length > 0) {
        const owners = [...new Set(onService.map((i) => i.owner.name))].sort();
        throw new DetourError(
          'DETOUR_ERR_INTERCEPT_GLOBAL_CONFLICT',
          `cannot intercept all of ${request.service}: it has ${onService.length} other intercept(s), owned by ${owners.join(', ')}`,
          { details: { owners } },
        );
      }
    } else {
      const global = onService.find((i) => i.global);
      if (global !== undefined) {
        throw new DetourError(
          'DETOUR_ERR_INTERCEPT_GLOBAL_CONFLICT',
          `${global.owner.name} holds a global intercept (${global.name}) on ${request.service}; ask them to leave it`,
          { details: { owner: global.owner.name, intercept: global.name } },
        );
      }
    }
    const key = matcherKey(request);
    const twin = onService.find((i) => matcherKey(i) === key);
    if (twin !== undefined) {
      throw new DetourError(
        'DETOUR_ERR_INTERCEPT_CONFLICT',
        `${twin.owner.name} already intercepts ${request.service} with the same matchers (intercept ${twin.name}); choose another header value or path`,
        { details: { owner: twin.owner.name, intercept: twin.name } },
      );
    }
    const sameName = [...this.#intercepts.values()].find((i) => i.owner.sessionId === sessionId && i.name === request.name && i.id !== request.id);
    if (sameName !== undefined) {
      throw new DetourError('DETOUR_ERR_INTERCEPT_NAME_TAKEN', `you already have an intercept named ${request.name}; leave it or pass --name`);
    }
    const intercept: Intercept = {
      ...request,
      owner: { sessionId, name: session.name, headerValue: session.headerValue },
      createdAt: existing?.createdAt ?? this.#now(),
      sequence: ++this.#sequence,
      online: session.tunnel === 'connected',
    };
    if (existing !== undefined) this.#bump(new Set([existing.service]));
    this.#orphans.delete(intercept.id);
    this.#intercepts.set(intercept.id, intercept);
    this.#changed(new Set([intercept.service]));
    return { intercept: { ...intercept }, created: true, reclaimed: false };
  }

  /** Returns an intercept after checking that the session owns it. */
  ownIntercept(sessionId: string, interceptId: string): Intercept {
    const intercept = this.#intercepts.get(interceptId);
    if (intercept === undefined) {
      throw new DetourError('DETOUR_ERR_INTERCEPT_NOT_FOUND', `no intercept ${interceptId}`);
    }
    if (intercept.owner.sessionId !== sessionId) {
      throw new DetourError('DETOUR_ERR_INTERCEPT_FORBIDDEN', `intercept ${intercept.name} belongs to ${intercept.owner.name}; you can only leave your own`, {
        details: { owner: intercept.owner.name },
      });
    }
    return { ...intercept };
  }

  /** Removes one of the session's own intercepts. */
  removeIntercept(sessionId: string, interceptId: string): Intercept {
    const intercept = this.ownIntercept(sessionId, interceptId);
    this.#intercepts.delete(interceptId);
    this.#changed(new Set([intercept.service]));
    return intercept;
  }

  /**
   * Removes an intercept whoever holds it: one never acknowledged (rollback),
   * or one deleted from the store by someone else (`kubectl delete intercept`).
   */
  dropIntercept(interceptId: string): Set<string> {
    const intercept = this.#intercepts.get(interceptId);
    if (intercept === undefined) return new Set();
    this.#intercepts.delete(interceptId);
    this.#orphans.delete(interceptId);
    const changed = new Set([intercept.service]);
    this.#changed(changed);
    return changed;
  }

  /**
   * Puts back the intercepts a store kept from before a restart. Their sessions
   * are gone, so they are offline (their `onDisconnect` applies) until their
   * daemon re-asserts them (addIntercept), and dropped if it has not within a lease.
   */
  restore(stored: readonly StoredIntercept[]): Set<string> {
    const expiresAt = this.#now() + this.leaseMs;
    const changed = new Set<string>();
    for (const { intercept, clientHash: hash } of stored) {
      this.#intercepts.set(intercept.id, { ...intercept, owner: { ...intercept.owner }, online: false });
      this.#orphans.set(intercept.id, { clientHash: hash, expiresAt });
      this.#sequence = Math.max(this.#sequence, intercept.sequence);
      changed.add(intercept.service);
    }
    this.#changed(changed);
    return changed;
  }

  /** What a store must hold now. */
  storedIntercepts(): StoredIntercept[] {
    return [...this.#intercepts.values()].map((intercept) => ({
      intercept: { ...intercept, owner: { ...intercept.owner } },
      clientHash: this.#orphans.get(intercept.id)?.clientHash ?? this.#sessions.get(intercept.owner.sessionId)?.clientHash ?? '',
    }));
  }

  /** How many intercepts `owner` holds over all its sessions, not counting `exceptId` (the one being re-asserted). */
  interceptCountOf(owner: string, exceptId: string): number {
    let count = 0;
    for (const intercept of this.#intercepts.values()) if (intercept.owner.name === owner && intercept.id !== exceptId) count++;
    return count;
  }

  /** An intercept by its owner's name and its own name (unique per session; the first accepted if one owner has two sessions). */
  findIntercept(owner: string, name: string): Intercept | undefined {
    return [...this.#intercepts.values()].sort((a, b) => a.sequence - b.sequence).find((i) => i.owner.name === owner && i.name === name);
  }

  getIntercept(interceptId: string): Intercept | undefined {
    return this.#intercepts.get(interceptId);
  }

  // ── agents ──────────────────────────────────────────────────────────────

  addAgent(info: Omit<AgentInfo, 'connectedAt' | 'ackedVersion'>): AgentInfo {
    const record: AgentRecord = { info: { ...info, connectedAt: this.#now(), ackedVersion: 0 } };
    this.#agents.set(info.id, record);
    return record.info;
  }

  removeAgent(agentId: string): void {
    this.#agents.delete(agentId);
  }

  /** Keeps an agent's published environment for as long as it stays connected; false for an agent not known. */
  setAgentEnvironment(agentId: string, variables: EnvVariable[]): AgentInfo | undefined {
    const record = this.#agents.get(agentId);
    if (record === undefined) return undefined;
    record.environment = variables.map((v) => ({ ...v }));
    return record.info;
  }

  /** The environment of the most recently connected agent of `service` that published one. */
  serviceEnvironment(service: string): { agentId: string; variables: EnvVariable[] } | undefined {
    let newest: AgentRecord | undefined;
    for (const record of this.#agents.values()) {
      if (record.info.service !== service || record.environment === undefined) continue;
      if (newest === undefined || record.info.connectedAt >= newest.info.connectedAt) newest = record;
    }
    return newest === undefined ? undefined : { agentId: newest.info.id, variables: newest.environment!.map((v) => ({ ...v })) };
  }

  ackAgent(agentId: string, version: number): AgentInfo | undefined {
    const record = this.#agents.get(agentId);
    if (record === undefined) return undefined;
    record.info.ackedVersion = Math.max(record.info.ackedVersion, version);
    return record.info;
  }

  agentsOf(service: string): AgentInfo[] {
    return [...this.#agents.values()].filter((a) => a.info.service === service).map((a) => a.info);
  }

  /** Services with an agent now, or with intercepts waiting for their agents to come back. */
  knownServices(): Set<string> {
    const names = new Set<string>();
    for (const agent of this.#agents.values()) names.add(agent.info.service);
    return names;
  }

  ruleSet(service: string): RuleSet {
    return {
      service,
      version: this.#serviceVersions.get(service) ?? this.#version,
      intercepts: [...this.#intercepts.values()].filter((i) => i.service === service).map((i) => ({ ...i, owner: { ...i.owner } })),
      ...(this.#probes.size === 0 ? {} : { probes: [...this.#probes.values()] }),
      ...(this.#routingKeys === undefined ? {} : { routingKeys: this.#routingKeys() }),
    };
  }

  /** The routing keys changed (a rotation): every service's rule set gets a new version; returns them all. */
  routingKeysChanged(): Set<string> {
    const changed = this.knownServices();
    this.#bump(changed);
    return changed;
  }

  /** Starts watching for a probe; returns the services whose rule sets changed (all with an agent). */
  addProbe(probe: Probe): Set<string> {
    this.#probes.set(probe.id, { ...probe });
    const changed = this.knownServices();
    this.#bump(changed);
    return changed;
  }

  removeProbe(probeId: string): Set<string> {
    if (!this.#probes.delete(probeId)) return new Set();
    const changed = this.knownServices();
    this.#bump(changed);
    return changed;
  }

  services(): ServiceInfo[] {
    const names = this.knownServices();
    for (const intercept of this.#intercepts.values()) names.add(intercept.service);
    return [...names].sort().map((name) => ({
      name,
      agents: this.agentsOf(name).map((a) => ({ ...a })),
      intercepts: this.ruleSet(name).intercepts,
    }));
  }

  /**
   * A raw TCP port carries no request heads to match, so only a whole-port
   * (global) intercept of mechanism `tcp` can work on it; and a `tcp` intercept
   * on an HTTP port would never be consulted. Both are refused up front rather
   * than accepted and silently ignored.
   */
  #checkMechanism(request: InterceptRequest): void {
    const agents = this.agentsOf(request.service);
    const tcpAgents = agents.filter((a) => a.protocol === 'tcp').length;
    if (tcpAgents > 0 && (request.mechanism !== 'tcp' || !request.global || request.headers.length > 0 || request.paths.length > 0)) {
      throw new DetourError(
        'DETOUR_ERR_INTERCEPT_TCP_NEEDS_GLOBAL',
        `${request.service} is a raw TCP service: it has no headers or paths to match; use --global --mechanism tcp without --http-header or path flags`,
        { details: { service: request.service } },
      );
    }
    if (request.mechanism === 'tcp' && tcpAgents < agents.length) {
      throw new DetourError(
        'DETOUR_ERR_INTERCEPT_MECHANISM_MISMATCH',
        `${request.service} speaks HTTP (its agents do not run with --protocol tcp); drop --mechanism tcp`,
        { details: { service: request.service } },
      );
    }
  }

  #mustSession(sessionId: string): Session {
    const session = this.#sessions.get(sessionId);
    if (session === undefined) {
      throw new DetourError('DETOUR_ERR_SESSION_UNKNOWN', `session ${sessionId} does not exist; it expired or the manager restarted`);
    }
    return session;
  }

  #bump(services: Set<string>): void {
    for (const service of services) this.#serviceVersions.set(service, ++this.#version);
  }

  /** An intercept change: new rule-set versions for the agents, and a save for the store. */
  #changed(services: Set<string>): void {
    if (services.size === 0) return;
    this.#bump(services);
    this.#onInterceptsChanged();
  }
}
