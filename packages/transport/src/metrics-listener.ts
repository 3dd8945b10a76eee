import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@detour/core';

/** What a scrape reads: prom-client's `Registry` has exactly this shape; this package needs no prom-client of its own. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsListenerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  source: MetricsSource;
  logger: Logger;
}

/** A running scrape listener. `close()` is idempotent. */
export interface MetricsListener {
  readonly address: { readonly host: string; readonly port: number };
  close(): Promise<void>;
}

/**
 * A listener of its own that answers `GET /metrics` (the Prometheus text
 * format) and nothing else, with no authentication: whoever can connect can
 * scrape, so it binds to loopback unless told otherwise. Separate from the
 * traffic port so that a scrape never shares a connection, a parser or a
 * routing decision with the service's callers.
 */
export async function startMetricsListener(options: MetricsListenerOptions): Promise<MetricsListener> {
  const { source, logger } = options;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only /metrics is served here\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('GET /metrics\n');
      return;
    }
    source.metrics().then(
      (text) => res.writeHead(200, { 'content-type': source.contentType, 'content-length': Buffer.byteLength(text) }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        logger.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed; see the log\n');
      },
    );
  });
  // A scraper keeps its connection alive between scrapes; nothing else should linger.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err: err.message }, 'metrics listener error'));
  const bound = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    address: Object.freeze({ host: bound.address, port: bound.port }),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
