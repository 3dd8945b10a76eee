import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, context, propagation } from '@opentelemetry/api';
import { newProbeValue } from './probe-value.js';

/** What the start-up self-check found. `problems` is empty when `ok`. */
export interface SelfTestResult {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

const CLIENTS = ['fetch', 'http'] as const;
type Client = (typeof CLIENTS)[number];

/**
 * Checks, in this process and with its real loader and package versions, that
 * the hooks are active: a loopback server receives a probe value, calls
 * itself through `fetch` and through `http.request` on a keep-alive agent, and
 * each call must arrive with exactly one copy of the value. Also checks that
 * the global propagator still includes our headers.
 */
export async function runSelfTest(headers: readonly string[], timeoutMs: number): Promise<SelfTestResult> {
  const problems: string[] = [];
  const fields = propagation.fields();
  const missing = headers.filter((h) => !fields.includes(h));
  if (missing.length > 0) {
    problems.push(`the global OpenTelemetry propagator does not carry ${missing.join(', ')}; another setup replaced it`);
  }
  const header = headers[0];
  if (header === undefined) return { ok: problems.length === 0, problems };

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  timer.unref();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  // Run outside any app context so only the probe request's own header counts.
  const server = context.with(ROOT_CONTEXT, () => createServer((req, res) => {
    serve(header, req, res, abort.signal, agent);
  }));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    server.unref();
    const { port } = server.address() as AddressInfo;
    const probe = newProbeValue();
    for (const client of CLIENTS) {
      const seen = await context.with(ROOT_CONTEXT, () => getJson(`http://127.0.0.1:${port}/relay/${client}`, { [header]: probe }, abort.signal, false));
      if (!Array.isArray(seen) || seen.length !== 1 || seen[0] !== probe) {
        problems.push(`${client}: the outbound call received ${describe(seen)} instead of one ${header}`);
      }
    }
  } catch (err) {
    problems.push(`loopback self-call failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearTimeout(timer);
    agent.destroy();
    server.closeAllConnections();
    server.close();
  }
  return { ok: problems.length === 0, problems };
}

function serve(header: string, req: IncomingMessage, res: ServerResponse, signal: AbortSignal, agent: Agent): void {
  const url = req.url ?? '/';
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (url === '/echo') {
    reply(200, req.headersDistinct[header] ?? []);
    return;
  }
  const client = url.slice('/relay/'.length) as Client;
  const target = `http://${req.headers.host ?? ''}/echo`;
  // No header is passed here: only propagation can put it on the call.
  const call = client === 'fetch'
    ? fetch(target, { signal }).then((r) => r.json() as Promise<unknown>)
    : getJson(target, {}, signal, agent);
  call.then((seen) => reply(200, seen), (err: unknown) => reply(502, String(err)));
}

// `agent: false` for the probe's own request keeps it off the relay's single keep-alive socket.
function getJson(url: string, headers: Record<string, string>, signal: AbortSignal, agent: Agent | false): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, signal, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function describe(seen: unknown): string {
  if (Array.isArray(seen)) return seen.length === 0 ? 'no copy' : `${seen.length} copies`;
  return JSON.stringify(seen);
}
