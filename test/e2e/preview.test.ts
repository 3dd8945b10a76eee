import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { WebSocket } from 'ws';
import { Environment } from './support/environment.js';
import type { Developer } from './support/environment.js';
import { DETOUR_BIN, ECHO_APP, eventually, startProcess, stopProcess } from './support/processes.js';

// Issue 12, preview URLs: a manager serving the gateway (--preview-listen), a service `web` with
// its agent, and two developers intercepting it by header. Visitors are curl, undici and ws,
// talking to the gateway on 127.0.0.1 with the Host a browser would send for <id>.preview.localhost.

const run = promisify(execFile);

interface PreviewJson {
  id: string;
  hint: string;
  url: string;
  shareUrl: string;
  interceptName: string;
  expiresAt: number;
}

/** curl, as a person would run it: -s, -i to see the head; returns status, head lines and body. */
async function curl(args: string[]): Promise<{ status: number; head: string; body: string }> {
  const { stdout } = await run('curl', ['-s', '-i', '--max-time', '10', ...args], { maxBuffer: 16 * 1024 * 1024 });
  const at = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, at);
  return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(head)?.[1]), head, body: stdout.slice(at + 4) };
}

function headerOf(head: string, name: string): string[] {
  return head.split('\r\n').flatMap((line) => (line.toLowerCase().startsWith(`${name}:`) ? [line.slice(name.length + 1).trim()] : []));
}

async function createPreview(dev: Developer, args: string[] = []): Promise<PreviewJson> {
  const result = await dev.cli(['preview', 'create', 'web', '--output', 'json', ...args]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as PreviewJson;
}

/** What a browser at the preview's subdomain sends: the gateway's address, the preview host. */
function viaHost(preview: PreviewJson): { gateway: string; host: string } {
  const url = new URL(preview.url);
  return { gateway: `http://127.0.0.1:${url.port}`, host: url.host };
}

async function rawExchange(port: number, bytes: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes);
  let text = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (text += chunk));
  await once(socket, 'close');
  return text;
}

test('preview URLs (issue 12)', async (t) => {
  const env = await Environment.create({ managerArgs: ['--preview-listen', '0'] });
  t.after(() => env.close());
  const app = await env.app('web', [ECHO_APP, '--name', 'web']);
  const agent = await env.agent('web', app.url);
  const alice = await env.developer('alice', [ECHO_APP, '--name', 'alice-laptop']);
  const bob = await env.developer('bob', [ECHO_APP, '--name', 'bob-laptop']);
  const [headerName, aliceValue] = await alice.interceptHeader('web');
  const [, bobValue] = await bob.interceptHeader('web');
  const preview = await createPreview(alice);
  const { gateway, host } = viaHost(preview);
  const gatewayPort = Number(new URL(gateway).port);

  await t.test('create prints both links, with at least 128 random bits in the id', () => {
    assert.match(preview.id, /^[a-z2-7]{32}$/);
    assert.equal(preview.url, `http://${preview.id}.preview.localhost:${gatewayPort}/`);
    assert.equal(preview.shareUrl, `http://preview.localhost:${gatewayPort}/_detour/preview/${preview.id}`);
  });

  await t.test('curl with the preview host reaches the laptop; the agent without it answers from the environment', async () => {
    const through = await curl(['-H', `Host: ${host}`, `${gateway}/anything`]);
    assert.equal(through.status, 200);
    const seen = JSON.parse(through.body) as { app: string; headers: Record<string, string> };
    assert.equal(seen.app, 'alice-laptop');
    assert.equal(seen.headers[headerName], aliceValue);
    assert.equal(seen.headers['x-forwarded-host'], host);
    const direct = await curl([`${agent.url}/anything`]);
    assert.equal((JSON.parse(direct.body) as { app: string }).app, 'web');
  });

  await t.test('a share link sets a host-only HttpOnly SameSite=Lax cookie, redirects, and the cookie reaches the laptop', async () => {
    const share = await curl([`${gateway}/_detour/preview/${preview.id}`]);
    assert.equal(share.status, 302);
    assert.deepEqual(headerOf(share.head, 'location'), ['/']);
    assert.deepEqual(headerOf(share.head, 'set-cookie'), [`detour-preview=${preview.id}; Path=/; HttpOnly; SameSite=Lax`]);
    const withCookie = await curl(['-H', `Cookie: theme=dark; detour-preview=${preview.id}`, `${gateway}/anything`]);
    const seen = JSON.parse(withCookie.body) as { app: string; headers: Record<string, string> };
    assert.equal(seen.app, 'alice-laptop');
    assert.equal(seen.headers.cookie, 'theme=dark', 'the preview cookie is not passed on');
    const exit = await curl([`${gateway}/_detour/preview/exit`]);
    assert.match(headerOf(exit.head, 'set-cookie')[0] ?? '', /^detour-preview=; Path=\/; Max-Age=0/);
  });

  await t.test('?detour-preview= redirects to the same URL without the parameter, other query bytes untouched', async () => {
    const r = await curl([`${gateway}/anything?a=1&detour-preview=${preview.id}&b=%20x+y&c`]);
    assert.equal(r.status, 302);
    assert.deepEqual(headerOf(r.head, 'location'), ['/anything?a=1&b=%20x+y&c']);
    const followed = await curl(['-H', `Cookie: detour-preview=${preview.id}`, `${gateway}/anything?a=1&b=%20x+y&c`]);
    assert.equal((JSON.parse(followed.body) as { path: string }).path, '/anything?a=1&b=%20x+y&c');
  });

  await t.test('a routing header sent to the gateway is replaced, never passed on', async () => {
    const spoofed = await curl(['-H', `Host: ${host}`, '-H', `${headerName}: ${bobValue}`, `${gateway}/anything`]);
    const seen = JSON.parse(spoofed.body) as { app: string; headers: Record<string, string> };
    assert.equal(seen.app, 'alice-laptop');
    assert.equal(seen.headers[headerName], aliceValue);
    const noPreview = await curl(['-H', `${headerName}: ${bobValue}`, `${gateway}/anything`]);
    assert.equal(noPreview.status, 404);
    assert.match(noPreview.body, /No preview selected/);
  });

  await t.test('redirects to the entry host come back to the preview host; Set-Cookie loses its Domain', async () => {
    const redirect = await curl(['-H', `Host: ${host}`, `${gateway}/redirect`]);
    assert.equal(redirect.status, 302);
    assert.deepEqual(headerOf(redirect.head, 'location'), [`http://${host}/landing`]);
    const cookie = await curl(['-H', `Host: ${host}`, `${gateway}/set-cookie`]);
    assert.deepEqual(headerOf(cookie.head, 'set-cookie'), ['visited=alice-laptop; Path=/; HttpOnly']);
  });

  await t.test('WebSocket through a preview, by host and by cookie', async () => {
    for (const headers of [{ host }, { cookie: `detour-preview=${preview.id}` }]) {
      const ws = new WebSocket(`${gateway.replace('http', 'ws')}/chat`, { headers });
      const hello = once(ws, 'message');
      await once(ws, 'open');
      assert.equal((JSON.parse(String((await hello)[0])) as { app: string }).app, 'alice-laptop');
      const echoed = once(ws, 'message');
      ws.send('hi');
      assert.equal(String((await echoed)[0]), 'alice-laptop:hi');
      ws.close();
      await once(ws, 'close');
    }
  });

  await t.test('SSE, large uploads and downloads stream through, on one kept-alive connection', async () => {
    const sse = await request(`${gateway}/sse?id=p1`, { headers: { host } });
    const reader = sse.body[Symbol.asyncIterator]();
    assert.match(String((await reader.next()).value), /data: alice-laptop-1/);
    await request(`${gateway}/next?id=p1`, { headers: { host } }).then((r) => r.body.dump());
    assert.match(String((await reader.next()).value), /data: alice-laptop-2/);
    await sse.body.destroy();
    const bytes = 32 * 1024 * 1024;
    const upload = await request(`${gateway}/upload`, { method: 'POST', headers: { host }, body: Buffer.alloc(bytes, 1) });
    assert.deepEqual(await upload.body.json(), { app: 'alice-laptop', bytes });
    const download = await request(`${gateway}/download?bytes=${bytes}`, { headers: { host } });
    let got = 0;
    for await (const chunk of download.body) got += (chunk as Buffer).length;
    assert.equal(got, bytes);
    // Two requests on one connection: the gateway keeps it alive (curl says so on stderr).
    const { stderr } = await run('curl', ['-s', '-v', '-o', '/dev/null', '-o', '/dev/null', '-H', `Host: ${host}`, `${gateway}/anything`, `${gateway}/anything`]);
    assert.match(stderr, /Re-using existing/i);
  });

  await t.test('malformed requests get the agent\'s answers: 400, 431 and 408 as JSON', async () => {
    const smuggle = await rawExchange(gatewayPort, `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    assert.match(smuggle, /^HTTP\/1\.1 400 /);
    assert.match(smuggle, /DETOUR_ERR_AGENT_BAD_REQUEST/);
    // Two Host lines (RFC 9112 §3.2): node:http would keep the first; the gateway answers 400 as the agent does.
    const twoHosts = await rawExchange(gatewayPort, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${gatewayPort}\r\nHost: ${host}\r\n\r\n`);
    assert.match(twoHosts, /^HTTP\/1\.1 400 /);
    assert.match(twoHosts, /repeated Host/);
    const big = await rawExchange(gatewayPort, `GET / HTTP/1.1\r\nHost: ${host}\r\nx-big: ${'a'.repeat(40 * 1024)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431 /);
    assert.match(big, /DETOUR_ERR_AGENT_HEAD_TOO_LARGE/);
    // A head never finished: answered 408 after the 10 s header timeout, then closed.
    const slow = await rawExchange(gatewayPort, `GET / HTTP/1.1\r\nHost: ${host}\r\n`);
    assert.match(slow, /^HTTP\/1\.1 408 /);
    assert.match(slow, /DETOUR_ERR_AGENT_HEAD_TIMEOUT/);
  });

  await t.test('list shows the preview; remove revokes it promptly, with a page that says so, and closes its WebSocket', async () => {
    const ws = new WebSocket(`${gateway.replace('http', 'ws')}/chat`, { headers: { host } });
    const hello = once(ws, 'message');
    await once(ws, 'open');
    await hello;
    const closed = once(ws, 'close');
    const list = await alice.cli(['preview', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+INTERCEPT\s+ENTRY\s+EXPIRES\s+URL/);
    assert.match(list.stdout, new RegExp(`${preview.id}\\s+web\\s+service web`));
    const removed = await alice.cli(['preview', 'remove', preview.url]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal(removed.stdout.trim(), `Removed preview ${preview.hint}… of intercept web`);
    const page = await eventually('the removed preview to be refused', async () => {
      const r = await curl(['-H', `Host: ${host}`, `${gateway}/anything`]);
      return r.status === 404 ? r : undefined;
    });
    assert.match(page.body, /This preview is not available/);
    assert.match(headerOf(page.head, 'content-type')[0] ?? '', /^text\/html/);
    // The gateway re-checks upgraded connections every 5 s.
    await closed;
  });

  await t.test('leaving the intercept revokes its previews', async () => {
    const again = await createPreview(alice);
    const v = viaHost(again);
    assert.equal((JSON.parse((await curl(['-H', `Host: ${v.host}`, `${v.gateway}/anything`])).body) as { app: string }).app, 'alice-laptop');
    assert.equal((await alice.cli(['leave', 'web'])).code, 0);
    await eventually('the preview to be revoked with its intercept', async () => ((await curl(['-H', `Host: ${v.host}`, `${v.gateway}/anything`])).status === 404 ? true : undefined));
  });

  await t.test('a preview stops at its expiry', async () => {
    await bob.cli(['preview', 'list']);
    const short = await createPreview(bob, ['--expires', '10s']);
    const v = viaHost(short);
    assert.equal((JSON.parse((await curl(['-H', `Host: ${v.host}`, `${v.gateway}/anything`])).body) as { app: string }).app, 'bob-laptop');
    await eventually('the preview to expire', async () => ((await curl(['-H', `Host: ${v.host}`, `${v.gateway}/anything`])).status === 404 ? true : undefined), 20_000, 250);
  });

  await t.test('bad input: one line, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['preview', 'create', 'nope'], /you have no intercept named nope/],
      [['preview', 'create', 'web', '--expires', '0s'], /bad --expires "0s": a preview lasts from 10s to 30d/],
      [['preview', 'create', 'web', '--expires', 'soon'], /bad --expires "soon"/],
      [['preview', 'create', 'web', '--entry', 'http://127.0.0.1:1'], /the entry http:\/\/127\.0\.0\.1:1 does not answer/],
      [['preview', 'create', 'web', '--entry', 'http://web.test/path'], /give an origin only/],
      [['preview', 'remove', 'zzzzzzzz'], /you have no preview zzzzzzzz/],
    ];
    for (const [args, message] of cases) {
      const r = await bob.cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  await t.test('intercept --preview-url prints a working preview', async () => {
    const r = await alice.cli(['intercept', 'web', '--port', String(alice.localPort), '--preview-url']);
    assert.equal(r.code, 0, r.stderr);
    const url = /Preview URL\s+: (\S+)/.exec(r.stdout)?.[1];
    assert.ok(url !== undefined, r.stdout);
    const u = new URL(url);
    assert.equal((JSON.parse((await curl(['-H', `Host: ${u.host}`, `http://127.0.0.1:${u.port}/anything`])).body) as { app: string }).app, 'alice-laptop');
  });

  await t.test('a standalone gateway (detour gateway) with --banner; a manager that is down gets a 503 page at once', async () => {
    const standalone = await startProcess(
      [DETOUR_BIN, 'gateway', '--listen', '0', '--domain', 'preview.localhost', '--manager', env.managerUrl, '--token-file', env.tokenFile, '--banner'],
      /listening on (http:\/\/\S+)/,
    );
    t.after(() => stopProcess(standalone.child));
    const fresh = await createPreview(bob);
    const previewHost = `${fresh.id}.preview.localhost`;
    const page = await curl(['-H', `Host: ${previewHost}`, '-H', 'Accept: text/html', `${standalone.value}/page`]);
    assert.match(page.body, /<body><div id="detour-preview-banner"[^>]*>You are viewing <strong>bob<\/strong>'s preview of <strong>web<\/strong>/);
    assert.match(page.body, /<h1 id="app">bob-laptop<\/h1>/);
    assert.deepEqual(headerOf(page.head, 'content-length'), [], 'the length changed, so it is chunked');
    const json = await curl(['-H', `Host: ${previewHost}`, `${standalone.value}/anything`]);
    assert.ok(!json.body.includes('detour-preview-banner'), 'only HTML gets the banner');
    await env.stopManager();
    // curl's --max-time 10 bounds each try: a gateway that hung on the manager would fail it.
    const down = await eventually('the gateway to notice the manager is down', async () => {
      const r = await curl(['-H', `Host: ${previewHost}`, `${standalone.value}/anything`]);
      return r.status === 503 ? r : undefined;
    });
    assert.match(down.body, /Previews are unavailable right now/);
  });
});

test('previews outlive a manager restart with --state-file, which keeps only a hash of each id (issue 12)', async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'detour-preview-state-'));
  t.after(() => rm(stateDir, { recursive: true, force: true }));
  const stateFile = join(stateDir, 'state.json');
  const restartable = await Environment.create({ managerArgs: ['--preview-url', 'http://preview.localhost', '--state-file', stateFile] });
  t.after(() => restartable.close());
  const app = await restartable.app('web', [ECHO_APP, '--name', 'web']);
  await restartable.agent('web', app.url);
  const alice = await restartable.developer('alice', [ECHO_APP, '--name', 'alice-laptop']);
  await alice.intercept('web');
  const preview = await createPreview(alice);
  const gateway = await startProcess([DETOUR_BIN, 'gateway', '--listen', '0', '--domain', 'preview.localhost', '--manager', restartable.managerUrl, '--token-file', restartable.tokenFile], /listening on (http:\/\/\S+)/);
  t.after(() => stopProcess(gateway.child));
  const host = `${preview.id}.preview.localhost`;
  const answeredBy = async () => {
    const r = await curl(['-H', `Host: ${host}`, `${gateway.value}/anything`]);
    return r.status === 200 ? (JSON.parse(r.body) as { app: string }).app : `HTTP ${r.status}`;
  };
  assert.equal(await answeredBy(), 'alice-laptop');
  const stored = await readFile(stateFile, 'utf8');
  assert.match(stored, /"idHash": "[0-9a-f]{64}"/);
  assert.ok(!stored.includes(preview.id), 'the store holds no working link');

  await restartable.stopManager('SIGKILL');
  await restartable.startManager();
  await eventually('the restored preview to reach the laptop again', async () => ((await answeredBy()) === 'alice-laptop' ? true : undefined), 20_000, 100);
  const list = await alice.cli(['preview', 'list']);
  assert.match(list.stdout, new RegExp(`${preview.hint}…\\s+web\\s+service web\\s+in \\S+ \\(.*\\)\\s+\\(shown at creation only\\)`));
});
