import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Dispatcher, ProxyAgent, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import type { Logger } from './logger.js';

/**
 * Which outbound hosts are names of the environment (`quote`, `quote.staging`,
 * `*.svc.cluster.local`): those calls go through detour's outbound proxy (the
 * daemon, then the manager, which dials them from inside); every other call goes
 * direct, as it would without detour. Entries: `name`, `.suffix` / `*.suffix`, IP, CIDR.
 */
export interface ProxyRoutes {
  viaProxy(host: string): boolean;
}

const CLUSTER_SUFFIXES = ['.svc', '.svc.cluster.local'];

export function createProxyRoutes(entries: readonly string[]): ProxyRoutes {
  const exact = new Set<string>();
  const suffixes = [...CLUSTER_SUFFIXES];
  const addresses = new net.BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    if (slash !== -1) {
      const network = entry.slice(0, slash);
      addresses.addSubnet(network, Number(entry.slice(slash + 1)), net.isIP(network) === 6 ? 'ipv6' : 'ipv4');
    } else if (net.isIP(entry) !== 0) addresses.addAddress(entry, net.isIP(entry) === 6 ? 'ipv6' : 'ipv4');
    else if (entry.startsWith('*.')) suffixes.push(entry.slice(1));
    else if (entry.startsWith('.')) suffixes.push(entry);
    else exact.add(entry);
  }
  return {
    viaProxy(raw) {
      let host = raw.toLowerCase();
      if (host.startsWith('[')) host = host.slice(1, -1);
      if (host.endsWith('.')) host = host.slice(0, -1);
      const family = net.isIP(host);
      if (family !== 0) return addresses.check(host, family === 6 ? 'ipv6' : 'ipv4');
      if (host === '' || host === 'localhost' || host.endsWith('.localhost')) return false;
      // A single-label name never reaches the internet: it is a service name, resolved by the cluster's DNS search path.
      if (!host.includes('.')) return true;
      return exact.has(host) || suffixes.some((s) => host.endsWith(s));
    },
  };
}

export interface ProxyRouting {
  uninstall(): void;
}

/**
 * Sends a Node app's calls to environment names through the proxy, for both of
 * Node's clients: `fetch` (undici), which ignores HTTP_PROXY on Node 20, gets a
 * global dispatcher that hands those origins to an undici `ProxyAgent`; `http`
 * and `https` get global agents that open such connections with a CONNECT to the
 * proxy (RFC 9110 §9.3.6). The instrumentations still see every call, so the
 * carried header is injected as before; a request given its own agent or
 * dispatcher is left alone.
 */
export function installProxyRouting(proxyUrl: string, routes: ProxyRoutes, logger: Logger): ProxyRouting {
  const proxy = new URL(proxyUrl);
  const previousDispatcher = getGlobalDispatcher();
  const viaProxy = new ProxyAgent({ uri: proxy.href });
  setGlobalDispatcher(new RoutingDispatcher(routes, viaProxy, previousDispatcher, logger));

  const previousHttp = http.globalAgent;
  const previousHttps = https.globalAgent;
  const agents = routingAgentClasses(proxy, routes, logger);
  // Node's own global agents keep connections alive (Node 19+); these do too.
  http.globalAgent = new agents.Http({ keepAlive: true });
  https.globalAgent = new agents.Https({ keepAlive: true });
  return {
    uninstall: () => {
      setGlobalDispatcher(previousDispatcher);
      http.globalAgent = previousHttp;
      https.globalAgent = previousHttps;
      void viaProxy.close();
    },
  };
}

class RoutingDispatcher extends Dispatcher {
  readonly #routes: ProxyRoutes;
  readonly #proxy: Dispatcher;
  readonly #direct: Dispatcher;
  readonly #logger: Logger;

  constructor(routes: ProxyRoutes, proxy: Dispatcher, direct: Dispatcher, logger: Logger) {
    super();
    this.#routes = routes;
    this.#proxy = proxy;
    this.#direct = direct;
    this.#logger = logger;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = options.origin === undefined ? undefined : new URL(String(options.origin));
    const through = origin !== undefined && this.#routes.viaProxy(origin.hostname);
    if (through) this.#logger.debug(`detour outbound: fetch ${origin.origin} through the environment`);
    return (through ? this.#proxy : this.#direct).dispatch(options, handler);
  }

  override close(): Promise<void> {
    return this.#proxy.close();
  }

  override destroy(): Promise<void> {
    return this.#proxy.destroy();
  }
}

type Callback = (err: Error | null, socket?: net.Socket) => void;
/** What http.Agent#createConnection is given: Node's Agent always passes the callback. */
type AgentCallback = ((err: Error | null, stream: Duplex) => void) | undefined;

function toAgentCallback(callback: AgentCallback): Callback {
  return (err, socket) => callback?.(err, socket as Duplex);
}

/** Opens `host:port` through the proxy with CONNECT; calls back with the tunnelled socket, or the proxy's refusal. */
function connectThrough(proxy: URL, host: string, port: number, callback: Callback): void {
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const socket = net.connect({ host: proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.port) });
  let head = Buffer.alloc(0);
  const fail = (err: Error) => {
    socket.destroy();
    callback(err);
  };
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end === -1) return;
    socket.off('data', onData);
    socket.off('error', fail);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1', 0, end))?.[1]);
    if (status === 200) {
      socket.pause();
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      callback(null, socket);
      return;
    }
    // The refusal's JSON body follows; the message it carries is what the app's error shows.
    let body = head.subarray(end + 4).toString('utf8');
    socket.on('data', (more: Buffer) => (body += more.toString('utf8')));
    socket.once('close', () => {
      let message = body.trim();
      try {
        message = (JSON.parse(body) as { error: { message: string } }).error.message;
      } catch {
        // not JSON: show what came
      }
      callback(Object.assign(new Error(`detour outbound proxy refused ${authority} (${status}): ${message}`), { code: 'DETOUR_ERR_EGRESS' }));
    });
  };
  socket.on('data', onData);
  socket.once('error', fail);
  socket.once('connect', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
}


/**
 * The global agents' classes, made per installation so that the proxy and the routes
 * are theirs: a request with `agent: false` gets `new globalAgent.constructor()` from
 * Node, which must route the same way.
 */
function routingAgentClasses(proxy: URL, routes: ProxyRoutes, logger: Logger): { Http: typeof http.Agent; Https: typeof https.Agent } {
  class RoutingHttpAgent extends http.Agent {
    override createConnection(options: http.ClientRequestArgs, callback?: AgentCallback): Duplex | undefined {
      const host = options.hostname ?? options.host ?? 'localhost';
      if (!routes.viaProxy(host)) return super.createConnection(options, callback) ?? undefined;
      logger.debug(`detour outbound: http ${host} through the environment`);
      connectThrough(proxy, host, Number(options.port ?? 80), (err, socket) => {
        toAgentCallback(callback)(err, socket);
        // Paused while the CONNECT answer was read; nothing more arrives before the request is written.
        socket?.resume();
      });
      return undefined;
    }
  }

  class RoutingHttpsAgent extends https.Agent {
    override createConnection(options: https.RequestOptions, agentCallback?: AgentCallback): Duplex | undefined {
      const callback = toAgentCallback(agentCallback);
      const host = options.hostname ?? options.host ?? 'localhost';
      if (!routes.viaProxy(host)) return super.createConnection(options, agentCallback) ?? undefined;
      logger.debug(`detour outbound: https ${host} through the environment`);
      connectThrough(proxy, host, Number(options.port ?? 443), (err, socket) => {
        if (err !== null || socket === undefined) return callback(err);
        const secure = tls.connect({ ...(options as tls.ConnectionOptions), socket, servername: options.servername ?? (net.isIP(host) === 0 ? host : undefined) });
        secure.once('secureConnect', () => callback(null, secure));
        secure.once('error', (tlsErr) => callback(tlsErr));
        socket.resume();
      });
      return undefined;
    }
  }
  return { Http: RoutingHttpAgent, Https: RoutingHttpsAgent };
}
