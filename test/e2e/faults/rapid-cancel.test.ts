import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { ServiceInfo } from '@detour/protocol';
import { Environment } from '../support/environment.js';
import { Load, report, scale } from './support.js';

/** An h2c laptop app that answers after `delayMs`: the callee of a gRPC call whose caller gives up first. */
async function slowH2cApp(t: TestContext, name: string, delayMs: number): Promise<number> {
  const server = http2.createServer((req, res) => {
    req.resume();
    const timer = setTimeout(() => res.end(JSON.stringify({ app: name })), delayMs);
    res.on('close', () => clearTimeout(timer));
  });
  const sessions = new Set<http2.Http2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('error', () => undefined);
    session.once('close', () => sessions.delete(session));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  // Its sessions are destroyed first: close() alone waits for them, and a session the storm left half-closed may hold no handle that could end the wait.
  t.after(() => {
    for (const session of sessions) session.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Opens matched HTTP/2 streams at `ratePerSec` and cancels each (RST_STREAM
 * CANCEL) `cancelAfterMs` later, like gRPC calls hitting their deadline, for
 * `durationMs`. The agent's own server answers a caller that resets this fast
 * with GOAWAY too (the same nghttp2 limit), so a lost session is replaced, as a
 * gRPC channel would.
 */
async function cancelStorm(url: string, headers: Record<string, string>, o: { ratePerSec: number; durationMs: number; cancelAfterMs: number }): Promise<{ opened: number; callerSessions: number }> {
  let session: http2.ClientHttp2Session | undefined;
  let callerSessions = 0;
  const live = () => {
    if (session === undefined || session.destroyed || session.closed) {
      session = http2.connect(url);
      session.on('error', () => undefined);
      session.on('goaway', () => session?.destroy());
      callerSessions++;
    }
    return session;
  };
  const startedAt = Date.now();
  let opened = 0;
  // Bounded: stops at durationMs, opening at most what the rate allows so far.
  while (Date.now() - startedAt < o.durationMs) {
    const due = Math.floor(((Date.now() - startedAt) * o.ratePerSec) / 1000);
    for (; opened < due; opened++) {
      try {
        const stream = live().request({ ':method': 'POST', ':path': '/pkg.Service/Call', 'content-type': 'application/grpc', ...headers });
        stream.on('error', () => undefined);
        stream.resume();
        stream.end();
        setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), o.cancelAfterMs);
      } catch {
        session?.destroy();
      }
    }
    await sleep(5);
  }
  await sleep(o.cancelAfterMs + 50);
  session?.close();
  return { opened, callerSessions };
}

/** Every 100 ms, one matched request on its own connection; counts how they ended. */
async function probe(url: string, headers: Record<string, string>, expectApp: string, until: () => boolean, maxMs: number) {
  const outcomes = { sent: 0, reached: 0, failed: [] as string[] };
  const startedAt = Date.now();
  while (!until() && Date.now() - startedAt < maxMs) {
    outcomes.sent++;
    const at = Date.now() - startedAt;
    try {
      const r = await request(`${url}/probe`, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
      const body = (await r.body.json().catch(() => ({}))) as { app?: string; error?: { code?: string } };
      if (r.statusCode === 200 && body.app === expectApp) outcomes.reached++;
      else outcomes.failed.push(`${at} ms: ${r.statusCode} ${body.app ?? body.error?.code ?? ''}`);
    } catch (err) {
      outcomes.failed.push(`${at} ms: ${(err as Error).message}`);
    }
    await sleep(100);
  }
  return outcomes;
}

/** Polls the manager's list of the service's agents every 100 ms: how often the agent was missing, and every `connectedAt` seen. */
async function watchRegistration(env: Environment, service: string, until: () => boolean, maxMs: number) {
  const token = await env.token();
  const seen = { polls: 0, missing: 0, connectedAt: new Set<number>() };
  const startedAt = Date.now();
  while (!until() && Date.now() - startedAt < maxMs) {
    seen.polls++;
    const r = await request(`${env.managerUrl}/v1/services`, { headers: { authorization: `Bearer ${token}` } });
    const { services } = (await r.body.json()) as { services: ServiceInfo[] };
    const agents = services.find((s) => s.name === service)?.agents ?? [];
    if (agents.length === 0) seen.missing++;
    for (const agent of agents) seen.connectedAt.add(agent.connectedAt);
    await sleep(100);
  }
  return seen;
}

// A gRPC caller cancelling matched streams faster than the manager's rapid-reset
// limit (CVE-2023-44487: a burst of 1,000 RST_STREAMs, 33/s refill, then GOAWAY)
// costs only the data session of the intercept it matches: the agent stays
// registered, and another developer's matched requests on the same agent, and
// unmatched traffic, all go through.
test('fault: a caller cancelling matched HTTP/2 streams fast', { timeout: 120_000 }, async (t) => {
  const storm = scale({ ratePerSec: 400, durationMs: 4_000 }, { ratePerSec: 200, durationMs: 8_000 });
  const env = await Environment.create();
  t.after(() => env.close());
  const app = await env.app('api');
  // At info the agent logs each data session it loses and each time its control link goes down; counted from its whole log.
  const agent = await env.agent('api', app.url, [], 0, { DETOUR_LOG_LEVEL: 'info' });
  const agentLog = { dataSessionsLost: 0, controlLinkDown: 0 };
  createInterface({ input: agent.child.stderr! }).on('line', (line) => {
    if (line.includes('"data session lost"')) agentLog.dataSessionsLost++;
    if (line.includes('"manager link down')) agentLog.controlLinkDown++;
  });
  const carol = await env.developer('carol');
  const carolPort = await slowH2cApp(t, 'carol-laptop', 1_000);
  const carolIntercept = await carol.cli(['intercept', 'api', '--port', String(carolPort), '--output', 'json']);
  assert.equal(carolIntercept.code, 0, carolIntercept.stderr);
  const [cName, cValue] = (JSON.parse(carolIntercept.stdout) as { header: string }).header.split('=') as [string, string];
  const bob = await env.developer('bob');
  const [bName, bValue] = await bob.interceptHeader('api');

  let done = false;
  const unmatched = new Load(t, agent.url, { connections: 2, expectApp: 'api', maxDurationMs: 60_000 });
  const registration = watchRegistration(env, 'api', () => done, 60_000);
  const bobs = probe(agent.url, { [bName]: bValue }, 'bob-laptop', () => done, 60_000);
  const cancelled = await cancelStorm(agent.url, { [cName]: cValue }, { ...storm, cancelAfterMs: 20 });
  // A second more, to see what follows the storm.
  await sleep(1_000);
  done = true;
  const [seen, reached, load] = await Promise.all([registration, bobs, unmatched.stop()]);
  const { dataSessionsLost, controlLinkDown } = agentLog;

  report(t, {
    cancelled_streams: cancelled.opened,
    rate_per_s: (cancelled.opened * 1000) / storm.durationMs,
    caller_sessions: cancelled.callerSessions,
    data_sessions_replaced: dataSessionsLost,
    control_link_down: controlLinkDown,
    registration_polls: seen.polls,
    registration_missing: seen.missing,
    registrations: seen.connectedAt.size,
    other_developer_probes: reached.sent,
    other_developer_reached: reached.reached,
    unmatched_requests: load.requests,
    unmatched_failed: load.failed,
  });
  assert.ok(cancelled.opened >= (storm.ratePerSec * storm.durationMs) / 1000 / 2, `the storm ran: ${cancelled.opened} streams`);
  assert.ok(dataSessionsLost >= 1, 'the storm crossed the manager\'s rapid-reset limit (else this case tests nothing)');
  assert.equal(controlLinkDown, 0, 'the control link never went down');
  assert.deepEqual({ missing: seen.missing, registrations: seen.connectedAt.size }, { missing: 0, registrations: 1 }, 'the agent stayed registered, never re-registering');
  // At least one poll and one probe a second on average: the machine is shared, so no more is asked of the rate.
  const seconds = storm.durationMs / 1000;
  assert.ok(seen.polls >= seconds, `the registration was polled throughout (${seen.polls})`);
  assert.deepEqual(reached.failed, [], 'every matched request of the other developer reached their laptop');
  assert.ok(reached.sent >= seconds, `the other developer probed throughout (${reached.sent})`);
  assert.deepEqual({ failed: load.failed, misrouted: load.misrouted }, { failed: 0, misrouted: 0 }, load.samples.join('; '));
});
