import http2 from 'node:http2';

/**
 * HTTP/2 (h2c, prior knowledge) probes for the h2c phase, the counterpart of
 * http.mjs: is it up, who answered, did a gRPC call end with grpc-status 0.
 * Load is made by h2load, never here.
 */

/** gRPC's length-prefixed message (gRPC over HTTP/2, "Length-Prefixed-Message"): flag 0, 4-byte length, bytes. */
export function grpcFrame(message) {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** One request on a fresh session; resolves { status, headers, trailers, body } or rejects after `timeoutMs`. */
export function h2Request(url, { method = 'GET', path = '/', headers = {}, body, timeoutMs = 5_000 } = {}) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    const fail = (err) => { session.destroy(); reject(err); };
    const timer = setTimeout(() => fail(new Error(`${method} ${url}${path} timed out after ${timeoutMs} ms`)), timeoutMs);
    session.on('error', (err) => { clearTimeout(timer); fail(err); });
    const stream = session.request({ ':method': method, ':path': path, ...headers }, { endStream: body === undefined });
    let response = {};
    let trailers = {};
    const chunks = [];
    stream.on('response', (h) => { response = h; });
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status: response[':status'], headers: response, trailers, body: Buffer.concat(chunks) });
    });
    stream.on('error', (err) => { clearTimeout(timer); fail(err); });
    if (body !== undefined) stream.end(body);
  });
}

/** Polls `url` over h2c until it answers below 500; bounded by `timeoutMs`, every `intervalMs`. */
export async function waitForH2(url, { timeoutMs = 10_000, intervalMs = 50 } = {}) {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    try {
      const res = await h2Request(url, { timeoutMs: Math.max(100, deadline - performance.now()) });
      if (res.status < 500) return res;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${url} not ready over h2c within ${timeoutMs} ms (last: ${last})`);
}
