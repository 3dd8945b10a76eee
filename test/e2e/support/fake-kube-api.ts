// ───────────────────────────────────────────────────────────────────────────
// THE ONE MOCK of this test suite: a Kubernetes API server. None can run here (no
// cluster, no container engine), so this stands in for it. Everything else the
// tests touch is real: the manager and agent processes, @kubernetes/client-node
// talking HTTPS to this server through a real kubeconfig file.
//
// It implements the API semantics detour relies on, and no more:
// - objects under /api/v1/namespaces/NS/KIND and /apis/GROUP/VERSION/namespaces/NS/KIND
//   (any resource: intercepts.detour.dev, services, pods, events, deployments, ...),
//   and Namespaces themselves (/api/v1/namespaces/NAME, cluster-scoped);
// - one resourceVersion counter for everything, set on every write;
// - GET of an object or a list (the list carries the current resourceVersion);
// - watch (`?watch=true&resourceVersion=RV`): the events after RV, then the new
//   ones, as JSON lines of {type, object}; a resourceVersion older than the
//   retained history gets a 200 and one ERROR event holding a 410 Gone Status,
//   as a real API server answers (expireWatches() makes that happen on demand);
// - POST (409 AlreadyExists), PUT (409 Conflict on a stale metadata.resourceVersion),
//   PATCH as JSON merge patch (RFC 7386), JSON patch (RFC 6902: add, remove,
//   replace, test) or apply patch (a JSON body, merged), each with the same
//   resourceVersion precondition when the patch carries one, DELETE;
// - the /status subresource of custom resources: writes to the object ignore its
//   status, writes to /status change only the status;
// - bearer-token authentication (401 without the kubeconfig's token), and RBAC
//   refusals on demand (forbid(): 403 Forbidden, as for a user without the verb);
// - pods/NAME/portforward?ports=P as a WebSocket (subprotocol v4.channel.k8s.io):
//   each binary message is one channel byte then data, channel 0 the port's data and
//   1 its errors, each channel opening with the port as 2 bytes little-endian, as the
//   kubelet's stream does; the bytes go to the TCP address forwardPod() named for the
//   pod (the real manager), and dropPortForwards() cuts every open forward at once.
// ───────────────────────────────────────────────────────────────────────────
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { makeCertificates } from './certificates.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type KubeObject = { [key: string]: Json } & { metadata?: { [key: string]: Json } };

interface WatchEvent {
  resourceVersion: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  collection: string;
  object: KubeObject;
}

interface OpenWatch {
  collection: string;
  res: ServerResponse;
  /** Events held back while watches are paused. */
  held: WatchEvent[];
}

interface Target {
  /** `/api/v1/namespaces/NS/services` or `/apis/detour.dev/v1alpha1/namespaces/NS/intercepts`. */
  collection: string;
  name?: string;
  status: boolean;
  custom: boolean;
  kind: string;
}

const PORT_FORWARD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/;
const PORT_FORWARD_PROTOCOL = 'v4.channel.k8s.io';

const PATH = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(\/status)?)?$/;
/** Namespaces are cluster-scoped: `/api/v1/namespaces` and `/api/v1/namespaces/NAME`. */
const NAMESPACE_PATH = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/;

/** Kind names of the core resources the helpers use, for list kinds and objects made by POST. */
const CORE_KINDS: Record<string, string> = {
  services: 'Service',
  pods: 'Pod',
  secrets: 'Secret',
  endpoints: 'Endpoints',
  events: 'Event',
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
};

function statusBody(code: number, reason: string, message: string): KubeObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/** RFC 7386 §2: objects merge key by key, null removes, anything else replaces. */
function mergePatch(target: Json, patch: Json): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: { [key: string]: Json } = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

/** RFC 6902 with the operations Kubernetes clients use on Services and Pods (also what a test applies a webhook's answer with). */
export function jsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw new Error('a JSON patch is an array of operations');
  let doc = structuredClone(target);
  for (const operation of operations) {
    const { op, path, value } = operation as { op: string; path: string; value?: Json };
    // RFC 6901 §4: "~1" is "/", "~0" is "~".
    const keys = path.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop();
    if (last === undefined) {
      doc = value ?? null;
      continue;
    }
    let parent = doc as { [key: string]: Json } | Json[];
    for (const key of keys) parent = (parent as { [key: string]: Json })[key] as { [key: string]: Json };
    if (parent === undefined || parent === null || typeof parent !== 'object') throw new Error(`path ${path} does not exist`);
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op === 'add') parent.splice(index, 0, value ?? null);
      else if (op === 'remove') parent.splice(index, 1);
      else if (op === 'replace') parent[index] = value ?? null;
      else if (op === 'test' && JSON.stringify(parent[index]) !== JSON.stringify(value)) throw new Error(`test failed at ${path}`);
    } else {
      if ((op === 'remove' || op === 'replace') && !(last in parent)) throw new Error(`path ${path} does not exist`);
      if (op === 'add' || op === 'replace') parent[last] = value ?? null;
      else if (op === 'remove') delete parent[last];
      else if (op === 'test' && JSON.stringify(parent[last]) !== JSON.stringify(value)) throw new Error(`test failed at ${path}`);
    }
  }
  return doc;
}

export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  status: number;
}

/**
 * A fake Kubernetes API server on 127.0.0.1 (HTTPS, port 0). See the top of
 * this file for what it implements. `kubeconfig` is a file for client-node's
 * `loadFromFile` and for `detour manager --kubeconfig`.
 */
export class FakeKubeApi {
  readonly url: string;
  readonly kubeconfig: string;
  readonly token = `fake-${randomUUID()}`;
  /** Every request answered, in order (watches when they start). */
  readonly requests: RecordedRequest[] = [];
  readonly #server: https.Server;
  readonly #objects = new Map<string, KubeObject>();
  readonly #history: WatchEvent[] = [];
  readonly #watches = new Set<OpenWatch>();
  #resourceVersion = 1;
  /** Watches from before this resourceVersion get 410 Gone (the history before it is compacted away). */
  #oldestWatchable = 1;
  #paused = false;
  /** Where a pod's port-forward goes: `NS/POD` to a TCP address on 127.0.0.1. */
  readonly #forwards = new Map<string, number>();
  readonly #openForwards = new Set<WebSocket>();
  readonly #webSockets = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has(PORT_FORWARD_PROTOCOL) ? PORT_FORWARD_PROTOCOL : false) });
  /** Paths whose requests are answered 403 Forbidden, as RBAC answers a user without the permission. */
  readonly #forbidden: RegExp[] = [];
  /** Answers the next N writes to matching paths with 409 Conflict, as if someone had written first. */
  #injectedConflicts: Array<{ path: RegExp; remaining: number }> = [];

  private constructor(server: https.Server, url: string, kubeconfig: string) {
    this.#server = server;
    this.url = url;
    this.kubeconfig = kubeconfig;
  }

  static async start(dir: string, options: { namespace?: string } = {}): Promise<FakeKubeApi> {
    const certificates = await makeCertificates(dir);
    const [cert, key] = await Promise.all([readFile(certificates.certFile), readFile(certificates.keyFile)]);
    const server = https.createServer({ cert, key });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const url = `https://127.0.0.1:${port}`;
    const kubeconfig = join(dir, 'kubeconfig');
    const api = new FakeKubeApi(server, url, kubeconfig);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void api.#handle(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => api.#upgrade(req, socket, head));
    // JSON is YAML: client-node's loadFromFile reads it as a kubeconfig.
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: url, 'certificate-authority': certificates.caFile } }],
      users: [{ name: 'detour-manager', user: { token: api.token } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'detour-manager', namespace: options.namespace ?? 'default' } }],
      'current-context': 'fake',
    };
    await writeFile(kubeconfig, JSON.stringify(config, null, 2));
    return api;
  }

  /** Reads an object as the API would serve it (a copy), or undefined. */
  get(path: string): KubeObject | undefined {
    const object = this.#objects.get(path);
    return object === undefined ? undefined : structuredClone(object);
  }

  /** Objects of one collection path (`/apis/detour.dev/v1alpha1/namespaces/dev/intercepts`). */
  list(collection: string): KubeObject[] {
    return [...this.#objects.entries()].filter(([path]) => path.startsWith(`${collection}/`) && !path.slice(collection.length + 1).includes('/')).map(([, o]) => structuredClone(o));
  }

  /** Holds watch events back from open watches (they are lost if expireWatches() follows). */
  pauseWatches(): void {
    this.#paused = true;
  }

  /**
   * Compacts the history: every open watch gets an ERROR event with a 410 Gone
   * Status and ends, events held by pauseWatches() are dropped, and a watch from
   * any resourceVersion seen so far is answered 410 Gone. Only a fresh list helps.
   */
  expireWatches(): void {
    this.#paused = false;
    this.#oldestWatchable = this.#resourceVersion + 1;
    this.#history.length = 0;
    for (const watch of [...this.#watches]) {
      this.#sendLine(watch.res, { type: 'ERROR', object: statusBody(410, 'Expired', 'too old resource version') });
      watch.res.end();
      this.#watches.delete(watch);
    }
  }

  /** Port-forwards to pod `namespace/pod` (any port) reach 127.0.0.1:`port`. */
  forwardPod(namespace: string, pod: string, port: number): void {
    this.#forwards.set(`${namespace}/${pod}`, port);
  }

  /** Cuts every open port-forward, as an API server restart or a network blip does; returns how many. */
  dropPortForwards(): number {
    const count = this.#openForwards.size;
    for (const ws of this.#openForwards) ws.terminate();
    this.#openForwards.clear();
    return count;
  }

  /** Port-forward WebSockets open now. */
  openPortForwards(): number {
    return this.#openForwards.size;
  }

  /** Every request to a path matching `path` is answered 403 Forbidden from now on. */
  forbid(path: RegExp): void {
    this.#forbidden.push(path);
  }

  /** The next `count` writes (PUT, PATCH, DELETE) to a path matching `path` answer 409 Conflict. */
  injectConflicts(path: RegExp, count: number): void {
    this.#injectedConflicts.push({ path, remaining: count });
  }

  /** How many 409 Conflict answers were given (stale resourceVersions and injected ones). */
  conflictsServed(): number {
    return this.requests.filter((r) => r.status === 409 && r.method !== 'POST').length;
  }

  /** Open watch streams now (for tests waiting until a client watches again). */
  openWatches(): number {
    return this.#watches.size;
  }

  async close(): Promise<void> {
    this.dropPortForwards();
    for (const watch of this.#watches) watch.res.destroy();
    this.#watches.clear();
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close').catch(() => undefined);
  }

  // ── HTTP ────────────────────────────────────────────────────────────────

  /** `GET …/pods/NAME/portforward?ports=P` with `Upgrade: websocket`: the kubelet's port-forward stream. */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://fake');
    const refuse = (status: number, reason: string) => {
      this.requests.push({ method: 'PORTFORWARD', path: url.pathname, contentType: undefined, status });
      socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return refuse(401, 'Unauthorized');
    const match = PORT_FORWARD_PATH.exec(url.pathname);
    const port = Number(url.searchParams.get('ports'));
    if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) return refuse(400, 'Bad Request');
    if (this.#forbidden.some((path) => path.test(url.pathname))) return refuse(403, 'Forbidden');
    const target = this.#forwards.get(`${match[1]}/${match[2]}`);
    if (target === undefined || this.#objects.get(`/api/v1/namespaces/${match[1]}/pods/${match[2]}`) === undefined) return refuse(404, 'Not Found');
    this.#webSockets.handleUpgrade(req, socket, head, (ws) => {
      this.requests.push({ method: 'PORTFORWARD', path: url.pathname, contentType: undefined, status: 101 });
      this.#openForwards.add(ws);
      const portBytes = Buffer.alloc(2);
      portBytes.writeUInt16LE(port);
      ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
      ws.send(Buffer.concat([Buffer.from([1]), portBytes]));
      const tcp = net.connect({ host: '127.0.0.1', port: target });
      const pending: Buffer[] = [];
      tcp.once('connect', () => {
        for (const chunk of pending.splice(0)) tcp.write(chunk);
      });
      tcp.on('data', (chunk: Buffer) => ws.send(Buffer.concat([Buffer.from([0]), chunk])));
      tcp.on('error', (err) => {
        if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(`error forwarding port ${port}: ${err.message}`)]));
        ws.close();
      });
      tcp.on('close', () => ws.close());
      ws.on('message', (data: Buffer) => {
        if (data[0] !== 0) return;
        const bytes = data.subarray(1);
        if (tcp.connecting) pending.push(bytes);
        else tcp.write(bytes);
      });
      ws.on('close', () => {
        this.#openForwards.delete(ws);
        tcp.destroy();
      });
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const contentType = req.headers['content-type']?.split(';')[0]?.trim();
    const answer = (status: number, body: KubeObject) => {
      this.requests.push({ method: req.method ?? '', path: url.pathname, contentType, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${this.token}`) return answer(401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    if (this.#forbidden.some((path) => path.test(url.pathname))) {
      return answer(403, statusBody(403, 'Forbidden', `${url.pathname} is forbidden: User "developer" cannot ${req.method === 'GET' ? 'get' : (req.method ?? '').toLowerCase()} this resource`));
    }
    const target = this.#target(url.pathname);
    if (target === undefined) return answer(404, statusBody(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: Json = null;
    if (chunks.length > 0) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
      } catch {
        return answer(400, statusBody(400, 'BadRequest', 'the body is not JSON'));
      }
    }
    try {
      const [status, result] = this.#serve(req.method ?? 'GET', url, target, body, contentType, res);
      if (status === 0) {
        this.requests.push({ method: 'WATCH', path: url.pathname, contentType, status: 200 });
        return;
      }
      answer(status, result);
    } catch (err) {
      answer(422, statusBody(422, 'Invalid', (err as Error).message));
    }
  }

  #target(pathname: string): Target | undefined {
    const cluster = NAMESPACE_PATH.exec(pathname);
    if (cluster !== null) return { collection: '/api/v1/namespaces', ...(cluster[1] === undefined ? {} : { name: cluster[1] }), status: false, custom: false, kind: 'Namespace' };
    const match = PATH.exec(pathname);
    if (match === null) return undefined;
    const [, prefix, namespace, plural, name, status] = match;
    const custom = prefix!.startsWith('/apis/');
    const kind = CORE_KINDS[plural!] ?? (custom ? plural!.replace(/s$/, '').replace(/^./, (c) => c.toUpperCase()) : plural!);
    return { collection: `${prefix}/namespaces/${namespace}/${plural}`, ...(name === undefined ? {} : { name }), status: status !== undefined, custom, kind };
  }

  /** Returns [status, body], or [0, …] when it took the response over (a watch). */
  #serve(method: string, url: URL, target: Target, body: Json, contentType: string | undefined, res: ServerResponse): [number, KubeObject] {
    const { collection, name } = target;
    if (name === undefined) {
      if (method === 'GET' && (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1')) {
        this.#watch(collection, url.searchParams.get('resourceVersion') ?? '', res);
        return [0, {}];
      }
      if (method === 'GET') {
        return [200, { kind: `${target.kind}List`, apiVersion: 'v1', metadata: { resourceVersion: String(this.#resourceVersion) }, items: this.list(collection) }];
      }
      if (method === 'POST') return this.#create(collection, target, body as KubeObject);
      return [405, statusBody(405, 'MethodNotAllowed', `${method} on a collection`)];
    }
    const path = `${collection}/${name}`;
    const current = this.#objects.get(path);
    if (current === undefined) return [404, statusBody(404, 'NotFound', `${target.kind.toLowerCase()} "${name}" not found`)];
    if (method === 'GET') return [200, structuredClone(current)];
    if (method !== 'PUT' && method !== 'PATCH' && method !== 'DELETE') return [405, statusBody(405, 'MethodNotAllowed', method)];
    const injected = this.#injectedConflicts.find((c) => c.remaining > 0 && c.path.test(url.pathname));
    if (injected !== undefined) {
      injected.remaining -= 1;
      return [409, this.#conflict(target, name)];
    }
    if (method === 'DELETE') return [200, this.delete(path)!];
    let next: Json;
    if (method === 'PUT') next = body;
    else if (contentType === 'application/merge-patch+json' || contentType === 'application/apply-patch+yaml') next = mergePatch(current, body);
    else if (contentType === 'application/json-patch+json') next = jsonPatch(current, body);
    else return [415, statusBody(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`)];
    const wanted = (next as KubeObject).metadata?.['resourceVersion'];
    const precondition = method === 'PUT' || (body !== null && typeof body === 'object' && !Array.isArray(body) && (body as KubeObject).metadata?.['resourceVersion'] !== undefined);
    if (precondition && wanted !== current.metadata?.['resourceVersion']) return [409, this.#conflict(target, name)];
    const updated = next as KubeObject;
    // With a status subresource, the object and its status are written apart (custom resources here always have one).
    if (target.custom) {
      if (target.status) {
        const status = updated['status'];
        Object.assign(updated, structuredClone(current));
        if (status === undefined) delete updated['status'];
        else updated['status'] = status;
      } else if (current['status'] === undefined) delete updated['status'];
      else updated['status'] = structuredClone(current['status']);
    }
    // The server owns name, namespace, uid and creationTimestamp; every other metadata field is the write's (a merge patch's null removes it).
    const owned = Object.fromEntries(['namespace', 'uid', 'creationTimestamp'].flatMap((k) => (current.metadata?.[k] === undefined ? [] : [[k, current.metadata[k]!]])));
    updated.metadata = { ...updated.metadata, ...owned, name, resourceVersion: String(++this.#resourceVersion) };
    this.#objects.set(path, updated);
    this.#record('MODIFIED', collection, updated);
    return [200, structuredClone(updated)];
  }

  #create(collection: string, target: Target, object: KubeObject): [number, KubeObject] {
    const name = object?.metadata?.['name'];
    if (typeof name !== 'string' || name === '') return [422, statusBody(422, 'Invalid', 'metadata.name: Required value')];
    const path = `${collection}/${name}`;
    if (this.#objects.has(path)) return [409, { ...statusBody(409, 'AlreadyExists', `${target.kind.toLowerCase()} "${name}" already exists`), details: { name } }];
    const created = structuredClone(object);
    if (target.custom) delete created['status'];
    const namespace = collection === '/api/v1/namespaces' ? undefined : collection.split('/namespaces/')[1]!.split('/')[0]!;
    created.metadata = { ...created.metadata, name, ...(namespace === undefined ? {} : { namespace }), uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), resourceVersion: String(++this.#resourceVersion) };
    this.#objects.set(path, created);
    this.#record('ADDED', collection, created);
    return [201, structuredClone(created)];
  }

  #conflict(target: Target, name: string): KubeObject {
    return statusBody(409, 'Conflict', `Operation cannot be fulfilled on ${target.collection.split('/').pop()} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
  }

  #record(type: WatchEvent['type'], collection: string, object: KubeObject): void {
    const event: WatchEvent = { resourceVersion: this.#resourceVersion, type, collection, object: structuredClone(object) };
    this.#history.push(event);
    for (const watch of this.#watches) {
      if (watch.collection !== collection) continue;
      if (this.#paused) watch.held.push(event);
      else this.#sendLine(watch.res, { type, object: event.object });
    }
  }

  #watch(collection: string, from: string, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // The API server answers a watch's head at once, before any event; clients wait for it.
    res.flushHeaders();
    const since = from === '' ? this.#resourceVersion : Number(from);
    if (!Number.isInteger(since) || since < this.#oldestWatchable - 1) {
      this.#sendLine(res, { type: 'ERROR', object: statusBody(410, 'Expired', `too old resource version: ${from} (${this.#oldestWatchable - 1})`) });
      res.end();
      return;
    }
    const watch: OpenWatch = { collection, res, held: [] };
    for (const event of this.#history) {
      if (event.collection === collection && event.resourceVersion > since) this.#sendLine(res, { type: event.type, object: event.object });
    }
    this.#watches.add(watch);
    res.on('close', () => this.#watches.delete(watch));
  }

  #sendLine(res: ServerResponse, event: { type: string; object: Json }): void {
    res.write(`${JSON.stringify(event)}\n`);
  }

  /** Puts an object in place as if created by someone else (for example a Service or a Pod to be patched). */
  seed(collection: string, object: KubeObject): KubeObject {
    const [, created] = this.#create(collection, this.#target(collection)!, object);
    return created;
  }

  /** Deletes an object as `kubectl delete` does (a DELETED event for the watchers); returns it, or undefined if absent. */
  delete(path: string): KubeObject | undefined {
    const current = this.#objects.get(path);
    if (current === undefined) return undefined;
    this.#objects.delete(path);
    const gone = structuredClone(current);
    gone.metadata = { ...gone.metadata, resourceVersion: String(++this.#resourceVersion) };
    this.#record('DELETED', path.slice(0, path.lastIndexOf('/')), gone);
    return gone;
  }

  /** Changes an object as another client would (kubectl label/annotate): its resourceVersion moves on. */
  touch(path: string, patch: KubeObject): void {
    const current = this.#objects.get(path);
    if (current === undefined) throw new Error(`no object ${path}`);
    const updated = mergePatch(current, patch) as KubeObject;
    updated.metadata = { ...updated.metadata, resourceVersion: String(++this.#resourceVersion) };
    this.#objects.set(path, updated);
    this.#record('MODIFIED', path.slice(0, path.lastIndexOf('/')), updated);
  }
}
