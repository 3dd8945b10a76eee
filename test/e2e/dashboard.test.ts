import { test } from 'node:test';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'undici';
import { WebSocket } from 'ws';
import { DEFAULT_HEADER_NAME } from '@detour/protocol';
import { Environment } from './support/environment.js';
import type { Developer } from './support/environment.js';
import { chromiumMissing, launchBrowser } from './support/browser.js';
import { EchoClient, grpc, metadataOf, startGrpcApp, streamStatus } from './support/grpc-client.js';
import { eventually, stopProcess } from './support/processes.js';

/** Screenshots for the README when set (a directory); the test itself does not need them. */
const SCREENSHOT_DIR = process.env.E2E_SCREENSHOT_DIR;

interface DashboardInfo {
  url: string;
  port: number;
  maxExchanges: number;
  maxBytes: number;
  started: boolean;
}

async function startDashboard(dev: Developer, extra: string[] = []): Promise<DashboardInfo> {
  const result = await dev.cli(['dashboard', '--no-open', '--output', 'json', ...extra]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as DashboardInfo;
}

/** Signs in like a browser would: the token URL answers a cookie. */
async function signIn(info: DashboardInfo): Promise<string> {
  const r = await request(info.url);
  assert.equal(r.statusCode, 303);
  await r.body.dump();
  const cookie = String(r.headers['set-cookie']);
  return cookie.split(';')[0]!;
}

test('dashboard: token sign-in, live environment, inspector and replay in a real browser', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create({ managerArgs: ['--preview-listen', '0'] });
  t.after(() => env.close());
  const api = await env.service('api');
  const alice = await env.developer('alice');
  const bob = await env.developer('bob');
  await bob.intercept('api', ['--on-disconnect', 'hold=30s']);
  const taken = new URL(api.agentUrls[0]!).port;
  const refused = await alice.cli(['dashboard', '--no-open', '--port', taken]);
  assert.equal(refused.code, 2);
  assert.equal(refused.stderr, `detour: port ${taken} on 127.0.0.1 is taken; pick another with --port, or leave it out for a free one\n`);
  const info = await startDashboard(alice);
  const origin = `http://127.0.0.1:${info.port}`;
  // Made in the browser case (to see it appear live), or by the first case that needs it when that is skipped.
  let aliceHeader: Promise<[string, string]> | undefined;
  const interceptAsAlice = () => (aliceHeader ??= alice.interceptHeader('api'));
  assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{43}$/);

  await t.test('the token is swapped for an HttpOnly cookie; nothing is served without it', async () => {
    const anonymous = await request(`${origin}/api/exchanges`);
    assert.equal(anonymous.statusCode, 401);
    await anonymous.body.dump();
    const page = await request(`${origin}/`);
    assert.equal(page.statusCode, 401);
    assert.match(await page.body.text(), /Open the URL that <code>detour dashboard<\/code> printed/);
    const wrong = await request(`${origin}/?token=not-the-token`);
    assert.equal(wrong.statusCode, 403);
    await wrong.body.dump();
    const signedIn = await request(info.url);
    assert.equal(signedIn.statusCode, 303);
    assert.equal(signedIn.headers.location, '/');
    assert.match(String(signedIn.headers['set-cookie']), new RegExp(`^detour-dashboard-${info.port}=[\\w-]+; Path=/; HttpOnly; SameSite=Strict$`));
    await signedIn.body.dump();
    const cookie = await signIn(info);
    const ok = await request(`${origin}/api/exchanges`, { headers: { cookie } });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    // DNS rebinding: another name that resolves here is refused even with the cookie.
    const rebound = await request(`${origin}/api/exchanges`, { headers: { cookie, host: `evil.example:${info.port}` } });
    assert.equal(rebound.statusCode, 421);
    await rebound.body.dump();
    // A state-changing call from another origin is refused.
    const forged = await request(`${origin}/api/exchanges`, { method: 'DELETE', headers: { cookie, origin: 'http://evil.example' } });
    assert.equal(forged.statusCode, 403);
    await forged.body.dump();
  });

  await t.test('running it again prints the same dashboard', async () => {
    const again = await startDashboard(alice);
    assert.equal(again.url, info.url);
    assert.equal(again.started, false);
  });

  const missing = chromiumMissing();
  await t.test('in Chromium: an intercept appears live, a request shows in the inspector, replay shows the new answer', { skip: missing }, async () => {
    const browser = await launchBrowser();
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    await page.goto(info.url);
    // The token left the address bar.
    assert.equal(page.url(), `${origin}/`);
    await page.getByRole('button', { name: /Environment/ }).click();
    await page.locator('[data-service="api"]').waitFor();
    // bob's intercept, with owner, matcher, state and policy.
    const bobRow = page.locator('[data-service="api"] tr', { hasText: 'bob' });
    await bobRow.waitFor();
    assert.match(await bobRow.innerText(), new RegExp(`bob[\\s\\S]*${DEFAULT_HEADER_NAME}: bob-[\\s\\S]*online[\\s\\S]*hold 30 s`));

    await page.getByRole('button', { name: /Your intercepts/ }).click();
    await page.getByText('No intercepts').waitFor();
    const [headerName, headerValue] = await interceptAsAlice();
    // Live: no reload, the SSE feed brings it.
    await page.locator('.card.intercept', { hasText: 'online' }).waitFor({ timeout: 10_000 });
    assert.match(await page.locator('.card.intercept').innerText(), new RegExp(`${headerName}: ${headerValue}`));

    // Previews: one made from the dashboard, one with the CLI; both listed live, one revoked.
    const card = page.locator('.card.intercept');
    await card.getByRole('button', { name: 'New preview link' }).click();
    await card.locator('.preview').first().waitFor();
    const made = await alice.cli(['preview', 'create', 'api', '--output', 'json']);
    assert.equal(made.code, 0, made.stderr);
    const cliPreview = JSON.parse(made.stdout) as { url: string };
    await card.locator('.preview', { hasText: cliPreview.url }).waitFor();
    assert.equal(await card.locator('.preview').count(), 2);
    await card.locator('.preview', { hasText: cliPreview.url }).getByRole('button', { name: 'Revoke' }).click();
    await card.locator('.preview', { hasText: cliPreview.url }).waitFor({ state: 'detached' });
    const listed = await alice.cli(['preview', 'list', '--output', 'json']);
    assert.ok(!listed.stdout.includes(cliPreview.url), listed.stdout);

    await page.getByRole('button', { name: /Inspector/ }).click();
    const sent = await request(`${api.agentUrls[0]}/anything/orders?limit=2`, {
      method: 'POST',
      headers: { [headerName]: headerValue, 'content-type': 'application/json', authorization: 'Bearer s3cr3t-token-value', cookie: 'session=abc123; theme=dark' },
      body: JSON.stringify({ item: 'book', quantity: 2 }),
    });
    assert.equal(sent.statusCode, 200);
    assert.equal(((await sent.body.json()) as { app: string }).app, 'alice-laptop');

    const row = page.locator('.row', { hasText: '/anything/orders?limit=2' });
    await row.waitFor();
    assert.match(await row.innerText(), /POST[\s\S]*200/);
    await row.click();
    const detail = page.locator('.detail');
    // The answer, pretty-printed JSON from the laptop app.
    await detail.locator('pre.code.json', { hasText: '"app": "alice-laptop"' }).waitFor();
    await page.locator('.subtabs').getByRole('button', { name: 'Request' }).click();
    await detail.locator('pre.code.json', { hasText: '"item": "book"' }).waitFor();
    // Secrets are masked until clicked.
    assert.equal(await page.getByText('s3cr3t-token-value').count(), 0);
    const masked = detail.locator('button.secret', { hasText: 'Bearer ••••••' });
    assert.match(await detail.locator('button.secret', { hasText: 'session=' }).innerText(), /session=•+; theme=•+/);
    if (SCREENSHOT_DIR !== undefined) await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-request.png` });
    await masked.click();
    await detail.getByText('Bearer s3cr3t-token-value').waitFor();

    // Replay into the laptop, then to the environment: both answers beside the original.
    await detail.getByRole('button', { name: 'Replay', exact: true }).click();
    const local = detail.locator('.answer.replay[data-target="local"]');
    await local.locator('pre.code', { hasText: '"app": "alice-laptop"' }).waitFor();
    assert.match(await local.locator('.answer-head').innerText(), /200/);
    await detail.getByRole('button', { name: 'Replay to environment' }).click();
    const remote = detail.locator('.answer.replay[data-target="environment"]');
    await remote.locator('pre.code', { hasText: '"app": "api"' }).waitFor();
    assert.match(await remote.innerText(), new RegExp(`without ${headerName}`));

    // Edit and resend: a changed path and body reach the laptop app as edited.
    await detail.getByRole('button', { name: 'Edit and resend' }).click();
    await detail.getByRole('textbox', { name: 'Path' }).fill('/anything/edited');
    await detail.getByRole('textbox', { name: 'Body' }).fill('{"item":"pen"}');
    await detail.getByRole('button', { name: 'Send', exact: true }).click();
    await detail.locator('.answer.replay', { hasText: '(edited)' }).locator('pre.code', { hasText: '"path": "/anything/edited"' }).waitFor();

    // The filter narrows the list; HAR export gives what is shown, secrets masked.
    const other = await request(`${api.agentUrls[0]}/status/404`, { headers: { [headerName]: headerValue } });
    await other.body.dump();
    await page.locator('.row', { hasText: '/status/404' }).waitFor();
    await page.getByRole('searchbox', { name: 'Filter requests' }).fill('method:post status:2xx');
    await page.locator('.row', { hasText: '/status/404' }).waitFor({ state: 'detached' });
    assert.equal(await page.locator('.row').count(), 1);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export HAR' }).click()]);
    const har = JSON.parse(await readFile((await download.path())!, 'utf8')) as { log: { version: string; entries: Array<{ request: { method: string; url: string; headers: Array<{ name: string; value: string }> } }> } };
    assert.equal(har.log.version, '1.2');
    assert.deepEqual(har.log.entries.map((e) => [e.request.method, new URL(e.request.url).pathname]), [['POST', '/anything/orders']]);
    assert.equal(har.log.entries[0]!.request.headers.find((h) => h.name === 'authorization')?.value, 'Bearer ••••••');
    await page.getByRole('searchbox', { name: 'Filter requests' }).fill('');

    if (SCREENSHOT_DIR !== undefined) {
      // A few more requests so the list looks like a working session, then one replayed both ways.
      for (const path of ['/anything/users/42', '/anything/cart?currency=EUR', '/status/204']) {
        const r = await request(`${api.agentUrls[0]}${path}`, { headers: { [headerName]: headerValue, authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.demo' } });
        await r.body.dump();
      }
      const cart = page.locator('.row', { hasText: '/anything/cart?currency=EUR' });
      await cart.click();
      await detail.getByRole('button', { name: 'Replay', exact: true }).click();
      await detail.locator('.answer.replay[data-target="local"] pre.code').waitFor();
      await detail.getByRole('button', { name: 'Replay to environment' }).click();
      await detail.locator('.answer.replay[data-target="environment"] pre.code').waitFor();
      await page.locator('.subtabs').getByRole('button', { name: 'Request' }).click();
      await page.locator('.detail-wrap').evaluate((el) => el.scrollTo(0, 0));
      await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard.png` });
      await page.getByRole('button', { name: /Environment/ }).click();
      await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-environment.png` });
      const shown = await alice.cli(['preview', 'create', 'api', '--expires', '8h']);
      assert.equal(shown.code, 0, shown.stderr);
      await page.getByRole('button', { name: /Your intercepts/ }).click();
      await page.locator('.preview').nth(1).waitFor();
      await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-intercepts.png` });
    }
  });

  await t.test('with capture on, large HTTP/1.1 bodies still stream whole both ways; only their first 64 KiB are kept', async () => {
    const [headerName, headerValue] = await interceptAsAlice();
    const downloadBytes = 6 * 1024 * 1024;
    const down = await request(`${api.agentUrls[0]}/download?bytes=${downloadBytes}`, { headers: { [headerName]: headerValue } });
    let received = 0;
    for await (const chunk of down.body) received += (chunk as Buffer).length;
    assert.equal(received, downloadBytes);
    const uploadBytes = 5 * 1024 * 1024;
    const up = await request(`${api.agentUrls[0]}/upload`, {
      method: 'POST',
      headers: { [headerName]: headerValue },
      // No length: sent chunked, so the observer frames a chunked body.
      body: Readable.from((function* () {
        for (let sent = 0; sent < uploadBytes; sent += 64 * 1024) yield Buffer.alloc(64 * 1024, 0x62);
      })()),
    });
    assert.deepEqual(await up.body.json(), { app: 'alice-laptop', bytes: uploadBytes });
    const cookie = await signIn(info);
    const exchanges = await eventually('both captured', async () => {
      const r = await request(`${origin}/api/exchanges`, { headers: { cookie } });
      const all = ((await r.body.json()) as { exchanges: Captured[] }).exchanges.filter((e) => e.state === 'complete');
      const d = all.find((e) => e.path.startsWith('/download'));
      const u = all.find((e) => e.path === '/upload');
      return d && u ? { d, u } : undefined;
    });
    assert.deepEqual([exchanges.d.responseBody?.bytes, exchanges.d.responseBody?.truncated], [downloadBytes, true]);
    assert.equal(Buffer.from(exchanges.d.responseBody!.base64, 'base64').length, 64 * 1024);
    assert.deepEqual([exchanges.u.requestBody.bytes, exchanges.u.requestBody.truncated], [uploadBytes, true]);
    assert.equal(Buffer.from(exchanges.u.requestBody.base64, 'base64').toString(), 'b'.repeat(64 * 1024));
  });

  await t.test('with capture on, a WebSocket through the intercept works and its 101 is listed', async () => {
    const [headerName, headerValue] = await interceptAsAlice();
    const socket = new WebSocket(`${api.agentUrls[0]!.replace('http', 'ws')}/ws-live`, { headers: { [headerName]: headerValue } });
    const messages: string[] = [];
    socket.on('message', (data: Buffer) => messages.push(data.toString()));
    await once(socket, 'open');
    await eventually('the greeting', async () => (messages.length > 0 ? true : undefined));
    socket.send('hi');
    await eventually('the echo', async () => (messages.includes('alice-laptop:hi') ? true : undefined));
    assert.deepEqual(JSON.parse(messages[0]!), { app: 'alice-laptop', path: '/ws-live' });
    socket.close();
    await once(socket, 'close');
    const cookie = await signIn(info);
    const upgrade = await eventually('the upgrade listed', async () => {
      const r = await request(`${origin}/api/exchanges`, { headers: { cookie } });
      return ((await r.body.json()) as { exchanges: Captured[] }).exchanges.find((e) => e.path === '/ws-live');
    });
    assert.equal(upgrade.status, 101);
    assert.equal(upgrade.state, 'complete');
  });

  await t.test('the API lists what the browser saw, and --stop ends capture with the dashboard', async () => {
    const cookie = await signIn(info);
    const r = await request(`${origin}/api/exchanges`, { headers: { cookie } });
    const { exchanges } = (await r.body.json()) as { exchanges: Array<{ path: string; method: string; status: number; service: string }> };
    if (missing === false) assert.ok(exchanges.some((e) => e.path === '/anything/orders?limit=2' && e.method === 'POST' && e.status === 200 && e.service === 'api'));
    const stopped = await alice.cli(['dashboard', '--stop']);
    assert.equal(stopped.code, 0, stopped.stderr);
    await assert.rejects(request(`${origin}/api/exchanges`, { headers: { cookie } }), /ECONNREFUSED/);
  });
});

interface Captured {
  id: number;
  protocol: string;
  method: string;
  path: string;
  status?: number;
  state: string;
  interceptId: string;
  requestHeaders: Array<[string, string]>;
  requestBody: { base64: string; bytes: number; truncated: boolean };
  responseBody?: { base64: string; bytes: number; truncated: boolean };
  responseHeaders?: Array<[string, string]>;
  responseTrailers?: Array<[string, string]>;
}

/** A gRPC status is in the trailers, or in the head of a trailers-only answer (an error before any message). */
const grpcField = (e: Captured, name: string) => [...(e.responseHeaders ?? []), ...(e.responseTrailers ?? [])].find(([n]) => n === name)?.[1];

test('dashboard: gRPC calls are captured with metadata, status and trailers, streams pass whole, and replay works both ways', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const cluster = await startGrpcApp('cluster');
  const laptop = await startGrpcApp('alice-laptop');
  t.after(() => Promise.all([cluster, laptop].map((app) => stopProcess(app.child))));
  const agent = await env.agent('greeter', cluster.value);
  const alice = await env.developer('alice');
  const info = await startDashboard(alice, ['--capture-requests', '50', '--capture-bytes', '8MiB']);
  assert.equal(info.maxExchanges, 50);
  assert.equal(info.maxBytes, 8 * 1024 * 1024);
  const intercepted = await alice.cli(['intercept', 'greeter', '--port', new URL(laptop.value).port, '--output', 'json']);
  assert.equal(intercepted.code, 0, intercepted.stderr);
  const { header } = JSON.parse(intercepted.stdout) as { header: string };
  const client = new EchoClient(new URL(agent.url).host);
  t.after(() => client.close());
  const origin = `http://127.0.0.1:${info.port}`;
  const cookie = await signIn(info);
  const captured = async () => ((await (await request(`${origin}/api/exchanges`, { headers: { cookie } })).body.json()) as { exchanges: Captured[] }).exchanges;
  const completed = (path: string, count = 1) =>
    eventually(`${count} complete ${path}`, async () => {
      const found = (await captured()).filter((e) => e.path === path && e.state === 'complete');
      return found.length >= count ? found : undefined;
    });

  const ok = await client.unary('hi', metadataOf(header));
  assert.equal(ok.reply?.servedBy, 'alice-laptop');
  const failed = await client.unary('fail', metadataOf(header));
  assert.equal(failed.error?.code, grpc.status.INVALID_ARGUMENT);
  const [fail, hi] = await completed('/detour.test.Echo/Unary', 2);
  assert.ok(hi && fail);
  assert.equal(hi.protocol, 'grpc');
  assert.equal(hi.method, 'POST');
  assert.equal(hi.status, 200);
  assert.deepEqual(hi.responseTrailers?.find(([n]) => n === 'grpc-status'), ['grpc-status', '0']);
  const [headerName, headerValue] = header.split('=') as [string, string];
  assert.deepEqual(hi.requestHeaders.find(([n]) => n === headerName), [headerName, headerValue]);
  assert.equal(grpcField(fail, 'grpc-status'), '3');
  assert.match(decodeURIComponent(grpcField(fail, 'grpc-message') ?? ''), /refused by alice-laptop/);
  assert.equal(grpcField(fail, 'x-detail'), 'from alice-laptop');

  // A large stream passes whole while only its first 64 KiB are kept.
  const totalBytes = 8 * 1024 * 1024;
  let received = 0;
  const download = client.download(totalBytes, 64 * 1024, metadataOf(header));
  download.on('data', (chunk: { data: Buffer }) => (received += chunk.data.length));
  assert.equal((await streamStatus(download)).code, grpc.status.OK);
  assert.equal(received, totalBytes);
  const [streamed] = await completed('/detour.test.Echo/Download');
  assert.ok(streamed?.responseBody);
  assert.equal(streamed.responseBody.truncated, true);
  assert.ok(streamed.responseBody.bytes > totalBytes, `${streamed.responseBody.bytes}`);
  assert.equal(Buffer.from(streamed.responseBody.base64, 'base64').length, 64 * 1024);

  // Replay the unary call: into the laptop app, and into the environment without the header.
  const replay = async (target: 'local' | 'environment') => {
    const r = await request(`${origin}/api/replay`, {
      method: 'POST',
      headers: { cookie, origin, 'content-type': 'application/json' },
      body: JSON.stringify({ target, interceptId: hi.interceptId, protocol: hi.protocol, method: hi.method, path: hi.path, headers: hi.requestHeaders, bodyBase64: hi.requestBody.base64 }),
    });
    assert.equal(r.statusCode, 200);
    return (await r.body.json()) as { status: number; trailers?: Array<[string, string]>; body: { base64: string }; removedHeaders: string[] };
  };
  const local = await replay('local');
  assert.equal(local.status, 200);
  assert.deepEqual(local.trailers?.find(([n]) => n === 'grpc-status'), ['grpc-status', '0']);
  assert.match(Buffer.from(local.body.base64, 'base64').toString('latin1'), /alice-laptop/);
  const remote = await replay('environment');
  assert.deepEqual(remote.removedHeaders, [headerName]);
  assert.match(Buffer.from(remote.body.base64, 'base64').toString('latin1'), /cluster/);

  if (SCREENSHOT_DIR !== undefined && chromiumMissing() === false) {
    const browser = await launchBrowser();
    t.after(() => browser.close());
    const page = await browser.context.newPage();
    await page.goto(info.url);
    await page.locator('.row', { hasText: 'Unary' }).first().click();
    await page.locator('.grpc').waitFor();
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-grpc.png` });
  }

  // Mistakes get a 4xx with the reason.
  const bad = await request(`${origin}/api/replay`, { method: 'POST', headers: { cookie, origin, 'content-type': 'application/json' }, body: JSON.stringify({ target: 'local', interceptId: 'gone', protocol: 'h2', method: 'GET', path: '/', headers: [], bodyBase64: '' }) });
  assert.equal(bad.statusCode, 404);
  assert.match(((await bad.body.json()) as { error: { message: string } }).error.message, /no longer holds intercept gone/);
});
