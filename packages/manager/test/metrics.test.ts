import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startManager } from '../src/index.js';
import { AUTH, TOKEN, build, codeOf, inject, testManagerOptions } from './inject.js';

// The manager's `/metrics`: behind the token on the API port (in-process, injected),
// and without it on the optional loopback listener (a real one on port 0).

test('/metrics on the API port needs the token: 401 with the JSON error body, like every route', async () => {
  const { api } = build();
  const missing = await inject(api, { method: 'GET', path: '/metrics' });
  assert.equal(missing.status, 401);
  assert.equal(codeOf(missing), 'DETOUR_ERR_AUTH_MISSING_TOKEN');
  const wrong = await inject(api, { method: 'GET', path: '/metrics', headers: { authorization: 'Bearer wrong' } });
  assert.equal(wrong.status, 401);
  assert.equal(codeOf(wrong), 'DETOUR_ERR_AUTH_BAD_TOKEN');
  assert.equal((await inject(api, { method: 'GET', path: '/v1/metrics', headers: AUTH })).status, 404, 'served outside the versioned API only');
});

test('sessions, tunnels and API calls by route pattern; no header value, key or token in the text', async () => {
  const { api } = build();
  const created = await inject(api, { method: 'POST', path: '/v1/sessions', headers: AUTH, body: { name: 'alice', clientId: 'c-1', headerValue: 'alice-5eb63b' } });
  assert.equal(created.status, 201);
  const { session, key } = created.body as { session: { id: string }; key: string };
  assert.equal((await inject(api, { method: 'GET', path: `/v1/sessions/${session.id}`, headers: { ...AUTH, 'detour-session-key': key } })).status, 200);
  await inject(api, { method: 'GET', path: '/v1/no-such-route/with-a-long-unique-path', headers: AUTH });
  const scraped = await inject(api, { method: 'GET', path: '/metrics', headers: AUTH });
  assert.equal(scraped.status, 200);
  assert.match(scraped.contentType ?? '', /^text\/plain; version=0\.0\.4/);
  const text = String(scraped.body);
  for (const line of [
    'detour_manager_sessions 1',
    'detour_manager_tunnel_connected{developer="alice"} 0',
    'detour_manager_api_requests_total{method="POST",route="/v1/sessions",status="201"} 1',
    'detour_manager_api_requests_total{method="GET",route="/v1/sessions/:sessionId",status="200"} 1',
    'detour_manager_api_requests_total{method="*",route="unmatched",status="404"} 1',
    'detour_manager_rule_push_duration_seconds_count 0',
  ]) {
    assert.ok(text.split('\n').includes(line), `missing ${line}`);
  }
  for (const value of ['alice-5eb63b', key, session.id, TOKEN, 'with-a-long-unique-path']) assert.ok(!text.includes(value), `${value} appears in /metrics`);
});

test('--metrics-port: a token-less listener of its own on loopback; the API port still wants the token', async (t) => {
  const manager = await startManager(testManagerOptions({ metricsPort: 0 }));
  t.after(() => manager.close());
  assert.equal(manager.metricsAddress?.host, '127.0.0.1');
  const open = await fetch(`http://127.0.0.1:${manager.metricsAddress!.port}/metrics`);
  assert.equal(open.status, 200);
  assert.match(await open.text(), /^detour_manager_sessions 0$/m);
  assert.equal((await fetch(`http://127.0.0.1:${manager.metricsAddress!.port}/v1/info`)).status, 404, 'nothing but /metrics there');
  const guarded = await fetch(`${manager.url}/metrics`);
  assert.equal(guarded.status, 401);
  assert.equal(((await guarded.json()) as { error: { code: string } }).error.code, 'DETOUR_ERR_AUTH_MISSING_TOKEN');
});
