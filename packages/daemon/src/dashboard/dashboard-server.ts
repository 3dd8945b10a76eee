import http from 'node:http';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_HEADER_NAME } from '@detour/protocol';
import type { Preview, PreviewCreate, PreviewList, ServiceList } from '@detour/protocol';
import { DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { dashboardAssets } from '@detour/dashboard-ui';
import type { DashboardOverview, EnvironmentView, ReplayRequest } from '@detour/dashboard-ui/model';
import type { LocalIntercept } from '../daemon-api.js';
import { Capture } from '../capture/capture.js';
import type { CaptureSwitch } from '../capture/capture.js';
import { DashboardAuth } from './dashboard-auth.js';
import { LiveFeed } from './live-feed.js';
import { replay } from './replay.js';
import type { ReplayDestination } from './replay.js';

/** What the dashboard reads from the daemon. */
export interface DashboardSources {
  overview(): Omit<DashboardOverview, 'capture'>;
  intercepts(): LocalIntercept[];
  services(): Promise<ServiceList>;
  previews(): Promise<PreviewList>;
  createPreview(interceptName: string, create: PreviewCreate): Promise<Preview>;
  removePreview(ref: string): Promise<Preview>;
}

export interface DashboardOptions {
  /** 0: any free port. */
  port: number;
  maxExchanges: number;
  maxBytes: number;
}

export interface Dashboard {
  /** The URL with the token: what `detour dashboard` prints. */
  url: string;
  port: number;
  options: DashboardOptions;
  close(): Promise<void>;
}

const MAX_REPLAY_BODY_BYTES = 1024 * 1024;

const FieldsSchema = z.array(z.tuple([z.string().min(1).max(256), z.string().max(64 * 1024)])).max(512);
const ReplayRequestSchema = z.strictObject({
  target: z.enum(['local', 'environment']),
  interceptId: z.string().min(1).max(128),
  protocol: z.enum(['http/1.1', 'h2', 'grpc']),
  method: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'a method is an HTTP token'),
  path: z.string().regex(/^\/[\x21-\x7e]*$/, 'a path starts with "/" and has no spaces'),
  headers: FieldsSchema,
  bodyBase64: z.string().max(Math.ceil(MAX_REPLAY_BODY_BYTES / 3) * 4 + 4),
});

/** A preview of one of your intercepts, by its name, for the manager's default time (the CLI offers the other options). */
const PreviewAskSchema = z.strictObject({ intercept: z.string().min(1).max(63) });

const CONTENT_TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

/**
 * Serves the dashboard on 127.0.0.1: the page and its scripts, a JSON API
 * (`/api/…`) and the live feed (`/api/events`). While it runs, `capture.current`
 * is set so the forwarder records what reaches this laptop; closing it clears
 * the capture, which costs the forwarding path nothing from then on.
 */
export async function startDashboard(options: DashboardOptions, sources: DashboardSources, captureSwitch: CaptureSwitch, logger: Logger): Promise<Dashboard> {
  const assets = dashboardAssets();
  const indexHtml = await readFile(join(assets.staticDir, 'index.html'), 'utf8');
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(indexHtml)?.[1] ?? '';
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${createHash('sha256').update(importMap).digest('base64')}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const lookup = (id: string) => {
    const spec = sources.intercepts().find((i) => i.spec.id === id)?.spec;
    if (spec === undefined) return undefined;
    return { name: spec.name, service: spec.service, mechanism: spec.mechanism, ...(spec.fallthrough === undefined ? {} : { fallthroughStatuses: spec.fallthrough.statuses }) };
  };
  const capture = new Capture({ maxExchanges: options.maxExchanges, maxBytes: options.maxBytes }, lookup);
  let lastServices: ServiceList = { services: [] };
  let lastPreviews: PreviewList = { previews: [] };
  const environment = async (): Promise<EnvironmentView> => {
    const overview: DashboardOverview = { ...sources.overview(), capture: { maxExchanges: options.maxExchanges, maxBytes: options.maxBytes } };
    const mine = sources.intercepts() as EnvironmentView['mine'];
    try {
      [lastServices, lastPreviews] = await Promise.all([sources.services(), mine.length === 0 ? { previews: [] } : sources.previews()]);
      return { overview, services: lastServices.services, mine, previews: lastPreviews.previews };
    } catch (err) {
      return { overview, services: lastServices.services, mine, previews: lastPreviews.previews, managerError: (err as Error).message };
    }
  };
  const feed = new LiveFeed(capture.ring, environment);
  const auth = new DashboardAuth();

  const destination = async (request: ReplayRequest): Promise<ReplayDestination> => {
    const local = sources.intercepts().find((i) => i.spec.id === request.interceptId);
    if (local === undefined) throw new DetourError('DETOUR_ERR_DASHBOARD_EXCHANGE_UNKNOWN', `this daemon no longer holds intercept ${request.interceptId}; intercept again to replay into your app`);
    if (request.target === 'local') return { origin: `http://127.0.0.1:${local.spec.localPort}`, remove: new Set() };
    const { services } = await sources.services();
    const agent = services.find((s) => s.name === local.spec.service)?.agents[0];
    if (agent === undefined) throw new DetourError('DETOUR_ERR_DASHBOARD_NO_AGENT', `no agent of ${local.spec.service} is connected to the manager; nothing in the environment to replay to`);
    // Without the fields the intercept matches on, the agent routes the request as anyone else's: to the environment's app.
    const remove = new Set([DEFAULT_HEADER_NAME, ...local.spec.headers.map((h) => h.name)]);
    const headerless = local.spec.headers.length === 0;
    return {
      origin: `http://${agent.listen}`,
      remove,
      ...(headerless ? { note: `${local.spec.name} matches without a header (${local.spec.global ? 'global' : 'by path'}), so the agent may route this replay to your laptop again` } : {}),
    };
  };

  const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    const security = { 'content-security-policy': csp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' };
    const sendJson = (status: number, body?: unknown) => {
      if (body === undefined) res.writeHead(status, security).end();
      else res.writeHead(status, { ...security, 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const sendPage = (status: number, title: string, text: string) => {
      res.writeHead(status, { ...security, 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font:15px system-ui;margin:3rem;color:#1f2937"><h1 style="font-size:1.3rem">${title}</h1><p>${text}</p>`);
    };
    const handle = async () => {
      const a = auth;
      if (!a.hostAllowed(req)) return sendPage(421, 'Wrong host', 'Open the dashboard at the 127.0.0.1 address <code>detour dashboard</code> printed.');
      const url = new URL(req.url ?? '/', 'http://dashboard');
      const path = url.pathname;
      if (req.method === 'GET' && path === '/' && url.searchParams.has('token')) {
        if (!a.matches(url.searchParams.get('token'))) return sendPage(403, 'Invalid dashboard token', 'This link is not (or no longer) valid. Run <code>detour dashboard</code> for a fresh one.');
        // The token leaves the address bar; from now on the HttpOnly cookie proves it.
        res.writeHead(303, { ...security, 'set-cookie': a.cookie(), location: '/' }).end();
        return;
      }
      if (!a.authenticated(req)) {
        if (path.startsWith('/api/')) throw new DetourError('DETOUR_ERR_AUTH_MISSING_TOKEN', 'open the URL `detour dashboard` prints: it carries the dashboard token');
        return sendPage(401, 'detour dashboard', 'Open the URL that <code>detour dashboard</code> printed: it carries a token that signs this browser in.');
      }
      if (req.method === 'GET') {
        if (path === '/') {
          res.writeHead(200, { ...security, 'content-type': 'text/html; charset=utf-8' }).end(indexHtml);
          return;
        }
        if (path.startsWith('/ui/')) return serveAsset(path.slice(4));
        if (path === '/api/events') return feed.attach(res);
        if (path === '/api/exchanges') return sendJson(200, { exchanges: capture.ring.list() });
        if (path === '/api/environment') return sendJson(200, await environment());
      }
      if (req.method === 'POST' || req.method === 'DELETE') {
        if (!a.sameOrigin(req)) return sendJson(403, { error: { code: 'DETOUR_ERR_AUTH_BAD_TOKEN', message: 'state-changing calls come only from the dashboard page itself' } });
        if (req.method === 'DELETE' && path === '/api/exchanges') {
          capture.ring.clear();
          feed.cleared();
          return sendJson(204);
        }
        if (req.method === 'POST' && path === '/api/previews') {
          const parsed = PreviewAskSchema.safeParse(await readJson(req));
          if (!parsed.success) throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', `invalid preview: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
          const preview = await sources.createPreview(parsed.data.intercept, {});
          await feed.refresh();
          return sendJson(201, preview);
        }
        if (req.method === 'DELETE' && path.startsWith('/api/previews/')) {
          const removed = await sources.removePreview(decodeURIComponent(path.slice('/api/previews/'.length)));
          await feed.refresh();
          return sendJson(200, removed);
        }
        if (req.method === 'POST' && path === '/api/replay') {
          const parsed = ReplayRequestSchema.safeParse(await readJson(req));
          if (!parsed.success) {
            throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', `invalid replay: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
          }
          const request = parsed.data as ReplayRequest;
          const answer = await replay(request, await destination(request));
          logger.info({ target: request.target, method: request.method, path: request.path, status: answer.status }, 'dashboard replay');
          return sendJson(200, answer);
        }
      }
      throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no endpoint ${req.method} ${path}`);
    };
    const serveAsset = async (name: string) => {
      let file: string | undefined;
      if (name.startsWith('vendor/')) file = assets.vendor[name.slice(7)];
      else if (/^[a-z0-9-]+\.js$/.test(name)) file = join(assets.scriptDir, name);
      else if (name === 'style.css' || name === 'logo.svg') file = join(assets.staticDir, name);
      const body = file === undefined ? undefined : await readFile(file).catch(() => undefined);
      if (body === undefined) return sendJson(404, { error: { code: 'DETOUR_ERR_API_NOT_FOUND', message: `no file ${name}` } });
      res.writeHead(200, { ...security, 'cache-control': 'no-cache', 'content-type': CONTENT_TYPES[/\.[a-z]+$/.exec(name)?.[0] ?? ''] ?? 'application/octet-stream' }).end(body);
    };
    handle().catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      if (isDetourError(err)) return sendJson(err.status, err.toBody());
      logger.error({ err }, 'dashboard request failed');
      return sendJson(500, { error: { code: 'DETOUR_ERR_INTERNAL_BUG', message: (err as Error).message } });
    });
  });
  server.listen(options.port, '127.0.0.1');
  try {
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new DetourError('DETOUR_ERR_DASHBOARD_PORT_IN_USE', `port ${options.port} on 127.0.0.1 is taken; pick another with --port, or leave it out for a free one`, { cause: err });
    }
    throw err;
  }
  const port = (server.address() as { port: number }).port;
  auth.listeningOn(port);
  captureSwitch.current = capture;
  logger.info({ port, maxExchanges: options.maxExchanges, maxBytes: options.maxBytes }, 'dashboard started');
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/?token=${auth.token}`,
    port,
    options: { ...options, port },
    close: () => {
      closed ??= (async () => {
        if (captureSwitch.current === capture) captureSwitch.current = undefined;
        feed.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        logger.info({ port }, 'dashboard stopped');
      })();
      return closed;
    },
  };
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REPLAY_BODY_BYTES * 2) throw new DetourError('DETOUR_ERR_API_BODY_TOO_LARGE', 'replay body too large (1 MiB at most)');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', 'request body is not valid JSON', { cause: err });
  }
}
