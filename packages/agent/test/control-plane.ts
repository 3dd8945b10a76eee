import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { startManager } from '@detour/manager';
import { runDaemon } from '@detour/daemon';
import { DAEMON_PATHS, DaemonClient, resolveHome } from '@detour/daemon/client';
import type { InterceptAsk } from '@detour/daemon/client';
import { API_PATHS, DEFAULT_HEADER_NAME, SESSION_KEY_HEADER, TUNNEL_UPGRADE_TOKEN } from '@detour/protocol';
import type { AgentInfo, Intercept, InterceptRequest, ServiceList, SessionCreated } from '@detour/protocol';
import { RELAY_HTTP2_SETTINGS, managerEndpoint, spliceStream, widenSessionWindow } from '@detour/transport';
import { TOKEN, until } from './helpers.js';

// The real control plane for the agent's tests: the manager from
// @detour/manager and the user daemon from @detour/daemon, both in this process
// on 127.0.0.1, so the agent is held to the contract as the manager implements
// it, not to a copy of it. Only the tests import these packages.

const silent = pino({ level: 'silent' });

/** A real manager on 127.0.0.1:0 and its JSON API, called as a daemon or the CLI would. */
export interface TestManager {
  url: string;
  /** One API call with the manager token (and a session key if given); answers status and parsed body. */
  api<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, options?: { body?: unknown; key?: string }): Promise<{ status: number; body: T }>;
  /** The agents of a service as the manager lists them (`GET /v1/services`). */
  agents(service?: string): Promise<AgentInfo[]>;
  /** Runs `stop` before the manager closes: its close() waits for every HTTP/1.1 connection, and a daemon's are kept alive. */
  beforeClose(stop: () => Promise<void>): void;
}

export async function startTestManager(t: TestContext): Promise<TestManager> {
  const handle = await startManager({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    leaseMs: 60_000,
    globalAllowed: true,
    logger: silent,
    version: '0.0.0-test',
    // An agent that fails to ack fails the intercept call within the test's deadline.
    ackTimeoutMs: 3_000,
  });
  const stops: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const stop of stops.reverse()) await stop();
    await handle.close();
  });
  // One connection per call (agent: false sends `Connection: close`): the manager's close() does not
  // end idle HTTP/1.1 keep-alive connections, which would hold every test open until they time out.
  const api: TestManager['api'] = async <T>(method: string, path: string, options: { body?: unknown; key?: string } = {}) => {
    const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
    if (options.key !== undefined) headers[SESSION_KEY_HEADER] = options.key;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const request = http.request(`${handle.url}${path}`, { method, headers, agent: false });
    request.end(options.body === undefined ? undefined : JSON.stringify(options.body));
    const [response] = (await once(request, 'response')) as [http.IncomingMessage];
    let text = '';
    for await (const chunk of response) text += String(chunk);
    return { status: response.statusCode ?? 0, body: (text === '' ? undefined : JSON.parse(text)) as T };
  };
  return {
    url: handle.url,
    api,
    agents: async (service = 'orders') => {
      const { body } = await api<ServiceList>('GET', API_PATHS.services);
      return body.services.find((s) => s.name === service)?.agents ?? [];
    },
    beforeClose: (stop) => stops.push(stop),
  };
}

/** What an intercept needs beyond its name and local port; defaults to the developer's own header value. */
type InterceptSpec = Partial<InterceptAsk> & { name: string; localPort: number };

function ask(owner: string, spec: InterceptSpec): InterceptAsk {
  return {
    service: 'orders',
    headers: [{ name: DEFAULT_HEADER_NAME, op: 'equals', value: owner }],
    paths: [],
    global: false,
    onDisconnect: 'fallback',
    mechanism: 'http',
    ...spec,
  };
}

/** A real user daemon (`detour connect`), in this process, with its own home and a token file. */
export interface TestDaemon {
  /** Asks for an intercept as `detour intercept` does; resolves once every agent of the service acknowledged it. */
  intercept(spec: InterceptSpec): Promise<Intercept>;
  /** Removes one, as `detour leave` does. */
  leave(name: string): Promise<void>;
}

export async function startDaemon(manager: TestManager, name: string): Promise<TestDaemon> {
  const dir = await mkdtemp(join(tmpdir(), 'detour-agent-test-'));
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const home = resolveHome(join(dir, 'home'));
  const stop = new AbortController();
  let ready!: () => void;
  const readied = new Promise<void>((resolve) => (ready = resolve));
  const running = runDaemon({ manager: managerEndpoint(manager.url), token: { file: tokenFile }, name, home, version: '0.0.0-test', logger: silent, onReady: () => ready() }, stop.signal);
  const client = new DaemonClient(home);
  manager.beforeClose(async () => {
    await client.close();
    stop.abort();
    await running.catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  await Promise.race([readied, running.then(() => Promise.reject(new Error(`daemon ${name} stopped before it was ready`)))]);
  return {
    intercept: (spec) => client.call<Intercept>('POST', DAEMON_PATHS.intercepts, ask(name, spec)),
    leave: async (intercept) => {
      await client.call('DELETE', DAEMON_PATHS.intercept(intercept));
    },
  };
}

/** Serves one stream the manager relays on a developer's tunnel. */
export type TunnelHandler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

/**
 * A developer spoken for by the test itself, through the manager's real API:
 * a session, intercepts, and (only when a test asks) a tunnel whose far end the
 * test writes. Tests use it where the real daemon cannot do what they need: a
 * session with no tunnel (offline intercepts), or a developer side that refuses,
 * resets or reports what the manager relayed. Each such test says why.
 */
export class Developer {
  readonly name: string;
  readonly #manager: TestManager;
  readonly #key: string;
  /** The request headers of every stream the manager opened on this developer's tunnel. */
  readonly relayed: http2.IncomingHttpHeaders[] = [];

  private constructor(manager: TestManager, name: string, key: string) {
    this.#manager = manager;
    this.name = name;
    this.#key = key;
  }

  static async join(manager: TestManager, name: string): Promise<Developer> {
    const { status, body } = await manager.api<SessionCreated>('POST', API_PATHS.sessions, { body: { name, clientId: randomUUID(), headerValue: name } });
    if (status !== 201) throw new Error(`session for ${name}: ${status} ${JSON.stringify(body)}`);
    return new Developer(manager, name, body.key);
  }

  /** Creates an intercept; the manager answers once every agent of the service acknowledged it. */
  async intercept(spec: InterceptSpec & { id?: string }): Promise<Intercept> {
    const request: InterceptRequest = { id: spec.id ?? randomUUID(), ...ask(this.name, spec) };
    const { status, body } = await this.#manager.api<Intercept>('POST', API_PATHS.intercepts, { body: request, key: this.#key });
    if (status !== 201) throw new Error(`intercept ${spec.name}: ${status} ${JSON.stringify(body)}`);
    return body;
  }

  /**
   * Opens the tunnel as the daemon does (daemon/src/tunnel-client.ts): an
   * HTTP/1.1 upgrade (RFC 9110 §7.8), then this end serves HTTP/2 on the socket.
   */
  async openTunnel(t: TestContext, handler: TunnelHandler): Promise<void> {
    const request = http.request(`${this.#manager.url}${API_PATHS.tunnel}`, {
      headers: { connection: 'upgrade', upgrade: TUNNEL_UPGRADE_TOKEN, authorization: `Bearer ${TOKEN}`, [SESSION_KEY_HEADER]: this.#key },
    });
    request.end();
    const upgraded = once(request, 'upgrade') as Promise<[http.IncomingMessage, net.Socket, Buffer]>;
    const refused = once(request, 'response').then(([res]) => Promise.reject(new Error(`tunnel refused: ${(res as http.IncomingMessage).statusCode}`)));
    const [, socket, head] = await Promise.race([upgraded, refused]);
    const server = http2.createServer({ settings: RELAY_HTTP2_SETTINGS });
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      this.relayed.push(headers);
      handler(stream, headers);
    });
    const started = once(server, 'session') as Promise<[http2.ServerHttp2Session]>;
    if (head.length > 0) socket.unshift(head);
    server.emit('connection', socket);
    const [session] = await started;
    session.on('error', () => undefined);
    widenSessionWindow(session);
    t.after(() => session.destroy());
  }
}

/** What the daemon does with a plain CONNECT stream (daemon/src/local-tunnel.ts): connect to 127.0.0.1:`port`, answer 200, splice. */
export function spliceTo(port: number): TunnelHandler {
  return (stream) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.once('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
    stream.once('close', () => socket.destroy());
    socket.once('connect', () => {
      stream.respond({ ':status': 200 });
      spliceStream(stream, socket);
    });
  };
}

/**
 * A TCP hop between the agent and the manager that the test can cut, as a
 * network partition or a manager pod going away would, while the manager
 * itself (and with it every session, intercept and tunnel) stays up.
 */
export class Partition {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #cut = false;

  private constructor(target: number) {
    this.#server = net.createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(target, '127.0.0.1');
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.#sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => {
          this.#sockets.delete(a);
          b.destroy();
        });
        a.pipe(b);
      }
    });
  }

  static async start(t: TestContext, manager: TestManager): Promise<Partition> {
    const partition = new Partition(Number(new URL(manager.url).port));
    partition.#server.listen(0, '127.0.0.1');
    await once(partition.#server, 'listening');
    t.after(() => {
      partition.cut();
      partition.#server.close();
    });
    return partition;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  /** Drops every connection through the hop and refuses new ones. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  heal(): void {
    this.#cut = false;
  }
}

/** Resolves once the manager lists the agent and it acknowledged its first rule set: intercepts on its service can be created. */
export async function agentWatching(manager: TestManager, agentId: string): Promise<AgentInfo> {
  let info: AgentInfo | undefined;
  await until(async () => {
    info = (await manager.agents()).find((a) => a.id === agentId);
    return info !== undefined && info.ackedVersion > 0;
  }, `agent ${agentId} to watch and ack`);
  return info!;
}
