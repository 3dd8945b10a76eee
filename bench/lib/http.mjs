import { request as httpRequest, Agent } from 'node:http';

/**
 * Small HTTP/1.1 helpers for probes (is it up? who answered?). Load is made by
 * wrk, never here. A keep-alive agent keeps activation probes from paying a
 * TCP handshake each, which would inflate the latencies they measure.
 */

const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** One request; resolves { status, headers, body } or rejects after `timeoutMs`. */
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 5_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: keepAlive, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls `url` until `accept(res)` holds; bounded by `timeoutMs`, every `intervalMs`. */
export async function waitForHttp(url, { headers, accept = (res) => res.status < 500, timeoutMs = 10_000, intervalMs = 50 } = {}) {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    try {
      const res = await request(url, { headers, timeoutMs: Math.max(100, deadline - performance.now()) });
      if (accept(res)) return res;
      last = `HTTP ${res.status} from ${res.headers['x-served-by'] ?? '?'}: ${res.body.slice(0, 200)}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms (last: ${last})`);
}

/** Drops idle probe sockets so the process can exit. */
export function closeProbes() {
  keepAlive.destroy();
}
