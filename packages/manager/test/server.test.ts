import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_PATHS, RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE, SESSION_KEY_HEADER, TUNNEL_UPGRADE_TOKEN } from '@detour/protocol';
import type { ErrorBody } from '@detour/protocol';
import { createLogger } from '@detour/core';
import { startManager } from '../src/index.js';
import { AuthSource } from '../src/auth/auth-source.js';
import { tokenHash } from '../src/auth/identities.js';
import { AGENTS_EGRESS, AUTH, TOKEN } from './inject.js';

async function start(t: TestContext): Promise<string> {
  const manager = await startManager({ host: '127.0.0.1', port: 0, token: TOKEN, leaseMs: 15_000, globalAllowed: true, logger: createLogger('manager', { level: 'silent' }), version: 'test' });
  t.after(() => manager.close());
  return manager.url;
}

function connect(t: TestContext, url: string): http2.ClientHttp2Session {
  const session = http2.connect(url);
  session.on('error', () => {});
  t.after(() => session.destroy());
  return session;
}

interface H2Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

/** One complete HTTP/2 request/response. */
async function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<H2Answer> {
  const stream = session.request(headers, { endStream: true });
  stream.setEncoding('utf8');
  const [responseHeaders] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  let body = '';
  for await (const chunk of stream) body += chunk as string;
  return { status: Number(responseHeaders[':status']), headers: responseHeaders, body };
}

function errorCode(text: string): string {
  return (JSON.parse(text) as ErrorBody).error.code;
}

/** Opens an agent watch and waits for its answer; a 200 stays open (as an agent's does) and delivers the first rule set. */
async function watch(session: http2.ClientHttp2Session, query: string): Promise<{ status: number; contentType: unknown; firstLine: string }> {
  const stream = session.request({ ':method': 'GET', ':path': `${API_PATHS.agentWatch}?${query}`, ...AUTH }, { endStream: true });
  stream.setEncoding('utf8');
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  let text = '';
  while (!text.includes('\n') && !stream.readableEnded) {
    const [chunk] = (await Promise.race([once(stream, 'data'), once(stream, 'end').then(() => [''])])) as [string];
    text += chunk;
  }
  return { status: Number(headers[':status']), contentType: headers['content-type'], firstLine: text.split('\n')[0] ?? '' };
}

const relayHeaders = { ':method': 'GET', ':path': '/orders', ':authority': 'api', [RELAY_HEADER_INTERCEPT_ID]: 'some-intercept' };

test('smoke: the API answers on a real port over HTTP/1.1 and HTTP/2', async (t) => {
  const url = await start(t);
  const info = await fetch(`${url}${API_PATHS.info}`, { headers: AUTH });
  assert.equal(info.status, 200);
  assert.deepEqual(await info.json(), { version: 'test', leaseMs: 15_000, globalAllowed: true, signedKeys: false, egress: AGENTS_EGRESS });
  const refused = await fetch(`${url}${API_PATHS.info}`);
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('content-type'), 'application/json');
  assert.equal(((await refused.json()) as ErrorBody).error.code, 'DETOUR_ERR_AUTH_MISSING_TOKEN');

  const h2 = await h2Request(connect(t, url), { ':method': 'GET', ':path': API_PATHS.info, ...AUTH });
  assert.equal(h2.status, 200);
  assert.deepEqual(JSON.parse(h2.body), { version: 'test', leaseMs: 15_000, globalAllowed: true, signedKeys: false, egress: AGENTS_EGRESS });
});

test('issue 9: a relay stream is refused on a session that never had an accepted watch stream', async (t) => {
  const url = await start(t);
  const session = connect(t, url);

  const fresh = await h2Request(session, relayHeaders);
  assert.equal(fresh.status, 401);
  assert.equal(fresh.headers['content-type'], 'application/json');
  assert.equal(errorCode(fresh.body), 'DETOUR_ERR_AUTH_MISSING_TOKEN');

  // A token on some other call does not make the session an agent's.
  assert.equal((await h2Request(session, { ':method': 'GET', ':path': API_PATHS.info, ...AUTH })).status, 200);
  assert.equal((await h2Request(session, relayHeaders)).status, 401);

  // Neither does a watch with the right token and a bad query.
  assert.equal((await watch(session, 'service=Not_A_Name&agentId=a1')).status, 400);
  assert.equal((await h2Request(session, relayHeaders)).status, 401);

  // A relay stream's own authorization header is the caller's, never ours.
  assert.equal((await h2Request(session, { ...relayHeaders, ...AUTH })).status, 401);

  // Once a watch is accepted, the session's relay streams pass the gate: this one
  // names no intercept, so it gets the "developer offline" answer.
  const accepted = await watch(session, 'service=api&agentId=api-1&listen=127.0.0.1:1&protocol=auto');
  assert.equal(accepted.status, 200);
  assert.equal(accepted.contentType, 'application/x-ndjson');
  assert.equal((JSON.parse(accepted.firstLine) as { service: string }).service, 'api');
  const relayed = await h2Request(session, relayHeaders);
  assert.equal(relayed.status, 503);
  assert.equal(relayed.headers[RELAY_HEADER_OFFLINE], 'some-intercept');
  assert.equal(errorCode(relayed.body), 'DETOUR_ERR_TUNNEL_OFFLINE');

  // The authentication belongs to that session, not to the agent or the manager.
  assert.equal((await h2Request(connect(t, url), relayHeaders)).status, 401);
});

test('issue 14: a data session carries relay streams once its first stream names a watching agent, with the token', async (t) => {
  const url = await start(t);
  const control = connect(t, url);
  const data = connect(t, url);
  const path = API_PATHS.agentDataSession('api-1');

  // The token first, as everywhere; then the agent must be watching now.
  assert.equal((await h2Request(data, { ':method': 'GET', ':path': path })).status, 401);
  const unknown = await h2Request(data, { ':method': 'GET', ':path': path, ...AUTH });
  assert.equal(unknown.status, 404);
  assert.equal(errorCode(unknown.body), 'DETOUR_ERR_API_NOT_FOUND');
  assert.equal((await h2Request(data, relayHeaders)).status, 401);

  assert.equal((await watch(control, 'service=api&agentId=api-1&listen=127.0.0.1:1&protocol=auto')).status, 200);
  assert.equal((await h2Request(data, { ':method': 'GET', ':path': path, ...AUTH })).status, 204);
  const relayed = await h2Request(data, relayHeaders);
  assert.equal(relayed.status, 503);
  assert.equal(relayed.headers[RELAY_HEADER_OFFLINE], 'some-intercept');

  // Over HTTP/1.1 there is no session to authenticate.
  assert.equal((await fetch(`${url}${path}`, { headers: AUTH })).status, 404);
});

test('issue 14: a data session belongs to the identity of the agent\'s watch: another agent\'s token cannot open one for it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-data-session-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const authFile = join(dir, 'auth.json');
  const identities = ['agent-a', 'agent-b'].map((name) => ({ name, role: 'agent', tokenSha256: tokenHash(`dtr_${name}`) }));
  await writeFile(authFile, JSON.stringify({ roles: {}, identities }));
  const { source } = await AuthSource.open({ authFile, logger: createLogger('manager', { level: 'silent' }) });
  const manager = await startManager({ host: '127.0.0.1', port: 0, token: TOKEN, auth: source, leaseMs: 15_000, globalAllowed: true, logger: createLogger('manager', { level: 'silent' }), version: 'test' });
  t.after(() => manager.close());
  const bearer = (name: string) => ({ authorization: `Bearer dtr_${name}` });

  const control = connect(t, manager.url);
  const stream = control.request({ ':method': 'GET', ':path': `${API_PATHS.agentWatch}?service=api&agentId=api-1&listen=127.0.0.1:1&protocol=auto`, ...bearer('agent-a') }, { endStream: true });
  const [watchHeaders] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  assert.equal(Number(watchHeaders[':status']), 200);

  const path = API_PATHS.agentDataSession('api-1');
  const other = connect(t, manager.url);
  assert.equal((await h2Request(other, { ':method': 'GET', ':path': path, ...bearer('agent-b') })).status, 404);
  assert.equal((await h2Request(other, relayHeaders)).status, 401);
  const own = connect(t, manager.url);
  assert.equal((await h2Request(own, { ':method': 'GET', ':path': path, ...bearer('agent-a') })).status, 204);
  assert.equal((await h2Request(own, relayHeaders)).status, 503);
});

test('the watch wants the token (401 JSON) and a valid query (400 JSON)', async (t) => {
  const url = await start(t);
  const session = connect(t, url);
  const query = 'service=api&agentId=api-1';
  for (const [authorization, code] of [['Bearer wrong', 'DETOUR_ERR_AUTH_BAD_TOKEN'], ['', 'DETOUR_ERR_AUTH_MISSING_TOKEN']] as const) {
    const answer = await h2Request(session, { ':method': 'GET', ':path': `${API_PATHS.agentWatch}?${query}`, ...(authorization === '' ? {} : { authorization }) });
    assert.equal(answer.status, 401, authorization);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.equal(errorCode(answer.body), code);
  }
  for (const bad of ['agentId=a1', 'service=api', 'service=api&agentId=a1&protocol=spdy', 'service=api&agentId=has%20space', 'service=Api&agentId=a1']) {
    const answer = await h2Request(session, { ':method': 'GET', ':path': `${API_PATHS.agentWatch}?${bad}`, ...AUTH });
    assert.equal(answer.status, 400, bad);
    assert.equal(answer.headers['content-type'], 'application/json');
    assert.equal(errorCode(answer.body), 'DETOUR_ERR_API_BAD_REQUEST', bad);
  }
  // Without `protocol` an agent is taken to speak HTTP/1.1 (agents from before `--protocol`); unknown keys are ignored.
  assert.equal((await watch(session, 'service=api&agentId=api-1&future=1')).status, 200);
  const services = JSON.parse((await h2Request(session, { ':method': 'GET', ':path': API_PATHS.services, ...AUTH })).body) as { services: Array<{ agents: Array<{ protocol: string; listen: string }> }> };
  assert.deepEqual(services.services[0]?.agents.map((a) => [a.protocol, a.listen]), [['http1', '']]);
});

test('the tunnel upgrade wants the token and a live session key, and answers refusals in JSON', async (t) => {
  const url = await start(t);
  const upgrade = async (headers: Record<string, string>, path: string = API_PATHS.tunnel) => {
    const request = http.request(`${url}${path}`, { headers: { connection: 'upgrade', upgrade: TUNNEL_UPGRADE_TOKEN, ...headers } });
    request.end();
    const [response] = (await once(request, 'response')) as [http.IncomingMessage];
    let body = '';
    for await (const chunk of response) body += String(chunk);
    return { status: response.statusCode, contentType: response.headers['content-type'], code: errorCode(body) };
  };
  assert.deepEqual(await upgrade({}), { status: 401, contentType: 'application/json', code: 'DETOUR_ERR_AUTH_MISSING_TOKEN' });
  assert.deepEqual(await upgrade({ ...AUTH, [SESSION_KEY_HEADER]: 'no-such-key' }), { status: 404, contentType: 'application/json', code: 'DETOUR_ERR_SESSION_UNKNOWN' });
  assert.deepEqual(await upgrade(AUTH, API_PATHS.info), { status: 404, contentType: 'application/json', code: 'DETOUR_ERR_API_NOT_FOUND' });
});

test('issue 9: close() ends with idle keep-alive clients still connected', async () => {
  const manager = await startManager({ host: '127.0.0.1', port: 0, token: TOKEN, leaseMs: 15_000, globalAllowed: true, logger: createLogger('manager', { level: 'silent' }), version: 'test' });
  const agent = new http.Agent({ keepAlive: true });
  const answered = await new Promise<number>((resolve, reject) => {
    http.get(`${manager.url}${API_PATHS.info}`, { agent, headers: AUTH }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    }).once('error', reject);
  });
  assert.equal(answered, 200);
  // HTTP/2 too: an agent's session that stays open.
  const session = http2.connect(manager.url);
  session.on('error', () => {});
  await once(session, 'connect');
  const closedAt = Date.now();
  await manager.close();
  assert.ok(Date.now() - closedAt < 2_000, `close took ${Date.now() - closedAt} ms`);
  await once(session, 'close');
  agent.destroy();
});
