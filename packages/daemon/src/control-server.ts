import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { unlink } from 'node:fs/promises';
import { InterceptRequestSchema, PreviewCreateSchema, TokenCreateSchema, TraceRequestSchema } from '@detour/protocol';
import { z } from 'zod';
import { DetourError, isDetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { DAEMON_PATHS } from './daemon-api.js';
import type { DaemonStatus, DashboardInfo, DashboardStart } from './daemon-api.js';
import type { ManagerConnection } from './connection.js';

const InterceptAskSchema = InterceptRequestSchema.omit({ id: true });
const PreviewAskSchema = z.strictObject({ intercept: InterceptRequestSchema.shape.name, entry: PreviewCreateSchema.shape.entry, ttlMs: z.number().int() });
const MAX_BODY_BYTES = 64 * 1024;

export interface ControlServerOptions {
  socketPath: string;
  connection: ManagerConnection;
  status: () => Promise<DaemonStatus>;
  onQuit: () => void;
  dashboard: { start(request: DashboardStart): Promise<DashboardInfo>; stop(): Promise<void> };
  logger: Logger;
}

const DashboardStartSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).optional(),
  maxExchanges: z.number().int().min(1).max(100_000).optional(),
  maxBytes: z.number().int().min(1024 * 1024).max(4 * 1024 * 1024 * 1024).optional(),
});

/** Is another daemon answering on this socket? A socket file left by a daemon killed with -9 is not. */
export async function socketIsLive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new DetourError('DETOUR_ERR_API_BODY_TOO_LARGE', 'request body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', 'request body is not valid JSON', { cause: err });
  }
}

/** The daemon's local API for the CLI, on a Unix socket only its user can open. */
export async function startControlServer(options: ControlServerOptions): Promise<{ close(): Promise<void> }> {
  const { connection, logger } = options;
  const server = http.createServer((req, res) => {
    const send = (status: number, body?: unknown) => {
      if (body === undefined) res.writeHead(status).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? '/', 'http://daemon').pathname;
    const handle = async () => {
      if (req.method === 'GET' && path === DAEMON_PATHS.status) return send(200, await options.status());
      if (req.method === 'GET' && path === DAEMON_PATHS.services) return send(200, await connection.services());
      if (req.method === 'GET' && path === DAEMON_PATHS.logs) return send(200, await connection.recentLogs());
      const environment = /^\/services\/([^/]+)\/environment$/.exec(path);
      if (req.method === 'GET' && environment !== null) return send(200, await connection.serviceEnvironment(decodeURIComponent(environment[1]!)));
      if (req.method === 'POST' && path === DAEMON_PATHS.intercepts) {
        const parsed = InterceptAskSchema.safeParse(await readBody(req));
        if (!parsed.success) {
          throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        }
        return send(201, await connection.addIntercept(parsed.data));
      }
      if (req.method === 'DELETE' && path.startsWith(`${DAEMON_PATHS.intercepts}/`)) {
        await connection.removeIntercept(decodeURIComponent(path.slice(DAEMON_PATHS.intercepts.length + 1)));
        return send(204);
      }
      const owned = /^\/owners\/([^/]+)\/intercepts\/([^/]+)$/.exec(path);
      if (req.method === 'DELETE' && owned !== null) {
        await connection.manager.removeOwnedIntercept(decodeURIComponent(owned[1]!), decodeURIComponent(owned[2]!));
        return send(204);
      }
      if (req.method === 'GET' && path === DAEMON_PATHS.tokens) return send(200, await connection.manager.tokens());
      if (req.method === 'POST' && path === DAEMON_PATHS.tokens) {
        const parsed = TokenCreateSchema.safeParse(await readBody(req));
        if (!parsed.success) {
          throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        }
        return send(201, await connection.manager.createToken(parsed.data));
      }
      if (req.method === 'DELETE' && path.startsWith(`${DAEMON_PATHS.tokens}/`)) {
        await connection.manager.revokeToken(decodeURIComponent(path.slice(DAEMON_PATHS.tokens.length + 1)));
        return send(204);
      }
      if (req.method === 'GET' && path === DAEMON_PATHS.audit) {
        return send(200, await connection.manager.audit(Number(new URL(req.url ?? '/', 'http://daemon').searchParams.get('since') ?? 0)));
      }
      if (req.method === 'GET' && path === DAEMON_PATHS.previews) return send(200, await connection.previews());
      if (req.method === 'POST' && path === DAEMON_PATHS.previews) {
        const parsed = PreviewAskSchema.safeParse(await readBody(req));
        if (!parsed.success) {
          throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        }
        const { intercept, ...create } = parsed.data;
        return send(201, await connection.createPreview(intercept, create));
      }
      if (req.method === 'DELETE' && path.startsWith(`${DAEMON_PATHS.previews}/`)) {
        return send(200, await connection.removePreview(decodeURIComponent(path.slice(DAEMON_PATHS.previews.length + 1))));
      }
      if (req.method === 'POST' && path === DAEMON_PATHS.traces) {
        const parsed = TraceRequestSchema.safeParse(await readBody(req));
        if (!parsed.success) {
          throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        }
        return send(200, await connection.trace(parsed.data));
      }
      if (req.method === 'POST' && path === DAEMON_PATHS.dashboard) {
        const parsed = DashboardStartSchema.safeParse(await readBody(req));
        if (!parsed.success) {
          throw new DetourError('DETOUR_ERR_API_BAD_REQUEST', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        }
        return send(200, await options.dashboard.start(parsed.data));
      }
      if (req.method === 'DELETE' && path === DAEMON_PATHS.dashboard) {
        await options.dashboard.stop();
        return send(204);
      }
      if (req.method === 'POST' && path === DAEMON_PATHS.quit) {
        await connection.shutdown();
        send(204);
        options.onQuit();
        return;
      }
      throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `no endpoint ${req.method} ${path}`);
    };
    handle().catch((err: unknown) => {
      if (isDetourError(err)) return send(err.status, err.toBody());
      logger.error({ err }, 'control request failed');
      return send(500, { error: { code: 'DETOUR_ERR_INTERNAL_BUG', message: (err as Error).message } });
    });
  });
  if (await socketIsLive(options.socketPath)) {
    throw new DetourError('DETOUR_ERR_CLI_DAEMON_FAILED', `another daemon already answers on ${options.socketPath}`);
  }
  await unlink(options.socketPath).catch(() => undefined);
  server.listen(options.socketPath);
  await once(server, 'listening');
  return {
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
