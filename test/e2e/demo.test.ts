import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'undici';
import { DETOUR_BIN, eventually, runCli } from './support/processes.js';

test('detour demo starts, answers both kinds of request, and cleans up on SIGINT', { timeout: 60_000 }, async (t) => {
  const demo = spawn(process.execPath, [DETOUR_BIN, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DETOUR_LOG_LEVEL: 'warn' } });
  t.after(() => demo.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  demo.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  demo.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  await eventually('the demo is ready', async () => (stdout.includes('Press Ctrl-C') ? true : undefined), 45_000, 50).catch((err: Error) => {
    throw new Error(`${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`);
  });

  assert.match(stdout, /without the header: {2}web \(cluster\) → api \(cluster\) → quote \(cluster\)/);
  assert.match(stdout, /web \(cluster\) → api \(laptop\) → quote \(cluster\)/);
  // api is intercepted in the middle: the header still reaches quote, carried by @detour/propagation (issue #4).
  assert.match(stdout, /header arrived at: {3}web ✔ → api ✔ → quote ✔/);
  assert.match(stdout, /detour trace web: {4}web ✔ → api ✔ → quote ✔ \(header propagated through 3 services\)/);

  // The dashboard URL signs a browser in (the token is swapped for a cookie).
  const dashboard = /dashboard: {11}(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(stdout);
  assert.ok(dashboard, stdout);
  const signIn = await request(dashboard[1]!);
  assert.equal(signIn.statusCode, 303);
  assert.match(String(signIn.headers['set-cookie']), /HttpOnly/);
  await signIn.body.dump();

  // The printed curl commands work as printed.
  const mine = /curl -s -H '([^:]+): ([^']+)' (http:\/\/\S+)\//.exec(stdout);
  assert.ok(mine, stdout);
  const [, headerName, headerValue, webUrl] = mine;
  const withHeader = (await (await request(`${webUrl}/`, { headers: { [headerName!]: headerValue! } })).body.json()) as { chain: Array<{ flavor: string }> };
  assert.deepEqual(withHeader.chain.map((l) => l.flavor), ['cluster', 'laptop', 'cluster']);
  const without = (await (await request(`${webUrl}/`)).body.json()) as { chain: Array<{ flavor: string }> };
  assert.deepEqual(without.chain.map((l) => l.flavor), ['cluster', 'cluster', 'cluster']);
  // The preview URL opens the laptop's version without the header (Chromium resolves *.localhost itself; here the Host says it).
  const preview = /preview URL: {9}(http:\/\/\S+)/.exec(stdout);
  assert.ok(preview, stdout);
  const previewUrl = new URL(preview[1]!);
  const viaPreview = (await (await request(`http://127.0.0.1:${previewUrl.port}/`, { headers: { host: previewUrl.host } })).body.json()) as { chain: Array<{ flavor: string }> };
  assert.deepEqual(viaPreview.chain.map((l) => l.flavor), ['cluster', 'laptop', 'cluster']);
  const traceLine = /DETOUR_HOME=(\S+) \S+ trace web/.exec(stdout);
  assert.ok(traceLine, stdout);
  const traced = await runCli(['trace', 'web'], { DETOUR_HOME: traceLine[1] });
  assert.equal(traced.code, 0, traced.stderr);
  assert.match(traced.stdout, /^web ✔ → api ✔ → quote ✔ \(header propagated through 3 services\)\n/);

  demo.kill('SIGINT');
  const [code] = (await once(demo, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  assert.match(stderr, /demo stopped; nothing left running/);
  await assert.rejects(request(`${webUrl}/`), /ECONNREFUSED/);
});
