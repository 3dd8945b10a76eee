import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { sampleRss } from './rss.mjs';
import { HEADER_NAME } from './detour.mjs';

/**
 * Streams one large body through the agent, unmatched (agent → app) and
 * matched (agent → manager → daemon → laptop), in both directions (`/big`
 * down, `/sink` up), while
 * sampling the detour processes' RSS. A proxy that buffers bodies grows by the
 * body's size; one that streams stays flat.
 */

const CHUNK = Buffer.alloc(64 * 1024, 'y');
/** Slowest plausible loopback rate; past it the stream is declared stuck. */
const MIN_MIB_PER_S = 5;
const RSS_INTERVAL_MS = 100;
/** How much of an error answer's body goes into the report. */
const ERROR_BODY_CHARS = 300;

function download(url, headers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let bytes = 0;
      let head = '';
      res.on('data', (c) => {
        bytes += c.length;
        if (res.statusCode !== 200 && head.length < ERROR_BODY_CHARS) head += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode, servedBy: res.headers['x-served-by'], bytes, head }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`download not finished within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end();
  });
}

function upload(url, headers, bytes, timeoutMs) {
  return new Promise((resolve, reject) => {
    const chunks = Math.ceil(bytes / CHUNK.length);
    // The same buffer every time: the client must not be what uses memory.
    const body = Readable.from((function* gen() { for (let i = 0; i < chunks; i++) yield CHUNK; })());
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-length': chunks * CHUNK.length }, agent: false }, (res) => {
      let head = '';
      res.on('data', (c) => { if (head.length < ERROR_BODY_CHARS) head += c.toString('utf8'); });
      // The sink counts what reached it: that is the proof the body went all the way through.
      res.on('end', () => resolve({ status: res.statusCode, servedBy: res.headers['x-served-by'], bytes: Number(res.headers['x-received-bytes'] ?? 0), head }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`upload not finished within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => {
      clearTimeout(timer);
      // A close with neither answer nor error (a peer that hung up mid-body) must not leave us waiting.
      reject(new Error(`connection closed after ${req.socket?.bytesWritten ?? '?'} bytes were written`));
    });
    req.on('error', reject);
    body.pipe(req);
  });
}

/**
 * @param {object} o
 * @param {Record<string, number|null>} o.pids detour processes to watch: agent, daemon, manager
 */
export async function measureStreaming({ agentUrl, headerValue, bytes, pids, log }) {
  const watch = Object.fromEntries(Object.entries(pids).filter(([, pid]) => pid != null));
  const timeoutMs = Math.max(60_000, (bytes / 1024 ** 2 / MIN_MIB_PER_S) * 1e3);
  const streams = [];
  for (const [path, headers, servedBy] of [['unmatched', {}, 'app'], ['matched', { [HEADER_NAME]: headerValue }, 'laptop']]) {
    for (const direction of ['download', 'upload']) {
      const sampler = sampleRss(watch, RSS_INTERVAL_MS);
      const t0 = performance.now();
      let outcome;
      try {
        outcome = direction === 'download'
          ? await download(`${agentUrl}/big`, headers, timeoutMs)
          : await upload(`${agentUrl}/sink`, headers, bytes, timeoutMs);
      } catch (err) {
        outcome = { error: err.message };
      }
      const seconds = (performance.now() - t0) / 1e3;
      const rss = sampler.stop();
      let error = outcome.error ?? null;
      if (!error && outcome.status !== 200) error = `HTTP ${outcome.status} ${outcome.head.slice(0, ERROR_BODY_CHARS).trim()}`;
      else if (!error && outcome.servedBy !== servedBy) error = `served by ${outcome.servedBy}, expected ${servedBy}`;
      else if (!error && outcome.bytes < bytes) error = `only ${outcome.bytes} of ${bytes} bytes arrived`;
      const mibPerS = error ? null : bytes / 1024 ** 2 / seconds;
      streams.push({ path, direction, mibPerS, seconds, error, rss });
      const growth = rss.agent ? `agent RSS ${rss.agent.startMiB.toFixed(0)} → max ${rss.agent.maxMiB.toFixed(0)} MiB` : 'agent RSS not sampled';
      log(`stream ${path} ${direction}: ${error ? `failed: ${error}` : `${mibPerS.toFixed(0)} MiB/s`}, ${growth}`);
    }
  }
  return { bytes, streams };
}
