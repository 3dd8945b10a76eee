import https from 'node:https';
import type http from 'node:http';
import { once } from 'node:events';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { DetourError, errorBody } from '@detour/core';
import type { Logger } from '@detour/core';
import { reviewAdmission } from '@detour/kube';
import type { AdmissionContext } from '@detour/kube';

/** The path the chart's MutatingWebhookConfiguration names. */
export const WEBHOOK_PATH = '/v1/webhook/inject';

export const WEBHOOK_DEFAULTS = {
  /** The API server caps a request at 3 MiB; a pod's AdmissionReview is well below. */
  maxBodyBytes: 4 * 1024 * 1024,
  /** The webhook's own timeout is a few seconds (the chart sets it); a body slower than this is not the API server. */
  requestTimeoutMs: 10_000,
} as const;

export interface WebhookOptions {
  host: string;
  port: number;
  /** PEM files, re-read when they change (a Secret volume swaps them atomically on rotation). */
  certFile: string;
  keyFile: string;
  admission: AdmissionContext;
  logger: Logger;
}

export interface WebhookHandle {
  url: string;
  address: AddressInfo;
  close(): Promise<void>;
}

interface Credentials {
  /** inode, size and mtime of both files: a rotation changes at least one. */
  stamp: string;
  context: tls.SecureContext;
}

async function stampOf(certFile: string, keyFile: string): Promise<string> {
  const [cert, key] = await Promise.all([stat(certFile), stat(keyFile)]);
  return [cert, key].map((s) => `${s.ino}:${s.size}:${s.mtimeMs}`).join('/');
}

async function load(certFile: string, keyFile: string): Promise<Credentials & { cert: Buffer; key: Buffer }> {
  const stamp = await stampOf(certFile, keyFile);
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { stamp, cert, key, context: tls.createSecureContext({ cert, key }) };
}

/**
 * Serves the agent injector over HTTPS. The certificate is checked on each TLS
 * handshake that names a server (the API server dials the webhook Service by DNS
 * name, so it always sends SNI, RFC 6066 §3): a stat of both files, and a reload
 * when either changed, so a rotated Secret is served without a restart. A pair that
 * does not load (cert and key caught mid-rotation) keeps the previous one until the
 * next handshake.
 */
export async function startWebhook(options: WebhookOptions): Promise<WebhookHandle> {
  const { logger } = options;
  let first: Awaited<ReturnType<typeof load>>;
  try {
    first = await load(options.certFile, options.keyFile);
  } catch (err) {
    throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `--webhook-cert ${options.certFile} / --webhook-key ${options.keyFile}: ${(err as Error).message}`, { cause: err });
  }
  let credentials: Credentials = first;
  let refreshing: Promise<tls.SecureContext> | undefined;
  const refresh = (): Promise<tls.SecureContext> =>
    (refreshing ??= (async () => {
      try {
        if ((await stampOf(options.certFile, options.keyFile)) === credentials.stamp) return credentials.context;
        const next = await load(options.certFile, options.keyFile);
        credentials = next;
        // Handshakes without SNI use the server's default context: keep it current too.
        server.setSecureContext({ cert: next.cert, key: next.key });
        logger.info({ certFile: options.certFile }, 'webhook certificate reloaded');
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'webhook certificate did not load; serving the previous one');
      } finally {
        refreshing = undefined;
      }
      return credentials.context;
    })());

  const server = https.createServer(
    {
      cert: first.cert,
      key: first.key,
      requestTimeout: WEBHOOK_DEFAULTS.requestTimeoutMs,
      SNICallback: (_servername, callback) => {
        refresh().then(
          (context) => callback(null, context),
          (err: Error) => callback(err),
        );
      },
    },
    (req, res) => void handle(req, res, options),
  );
  server.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'webhook TLS handshake failed'));
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `https://${host}:${address.port}${WEBHOOK_PATH}`,
    address,
    close: () =>
      (closing ??= (async () => {
        const closed = once(server, 'close');
        server.close();
        server.closeAllConnections();
        await closed;
      })()),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > WEBHOOK_DEFAULTS.maxBodyBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, options: WebhookOptions): Promise<void> {
  try {
    // The API server adds `?timeout=10s`; only the path matters.
    const path = (req.url ?? '').split('?')[0];
    if (path !== WEBHOOK_PATH || req.method !== 'POST') {
      send(res, 404, errorBody('DETOUR_ERR_API_NOT_FOUND', `the webhook serves POST ${WEBHOOK_PATH} only`));
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      send(res, 413, errorBody('DETOUR_ERR_API_BODY_TOO_LARGE', `an AdmissionReview of more than ${WEBHOOK_DEFAULTS.maxBodyBytes} bytes`));
      req.resume();
      return;
    }
    let review: unknown;
    try {
      review = JSON.parse(body.toString('utf8'));
    } catch (err) {
      send(res, 400, errorBody('DETOUR_ERR_WEBHOOK_BAD_REVIEW', `not an AdmissionReview admission.k8s.io/v1: the body is not JSON (${(err as Error).message})`));
      return;
    }
    const answer = await reviewAdmission(review, options.admission);
    send(res, answer.status, answer.body);
  } catch (err) {
    // reviewAdmission fails open itself; this is the HTTP side (a reset socket, a bug here).
    options.logger.error({ err }, 'webhook request failed');
    if (!res.headersSent) send(res, 500, errorBody('DETOUR_ERR_INTERNAL_BUG', 'the webhook failed; the manager log has the stack'));
    else res.destroy();
  }
}
