import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { makeCertificates } from './support/certificates.js';
import { Environment } from './support/environment.js';
import { DETOUR_BIN, eventually, runCli, startProcess, stopProcess } from './support/processes.js';
import { freePort } from './support/free-port.js';

// The laptop app of `detour intercept api … -- node app.mjs`: for each request it calls
// the environment's `quote` by name with fetch and with http.get, and an outside host
// with http.get, and answers with what each call got.
const LAPTOP_APP = `
import http from 'node:http';
const get = (url) => new Promise((resolve) => {
  http.get(url, (res) => { let body = ''; res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve(body)); })
    .on('error', (err) => resolve('error:' + (err.code ?? err.message)));
});
const server = http.createServer(async (req, res) => {
  const viaFetch = await fetch('http://quote/price?via=fetch').then((r) => r.text(), (err) => 'error:' + String(err.cause?.code ?? err));
  const viaHttp = await get('http://quote/price?via=http');
  const outside = await get('http://outside.invalid/');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ viaFetch: JSON.parse(viaFetch), viaHttp: JSON.parse(viaHttp), outside }));
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
`;

interface EchoAnswer {
  app: string;
  path: string;
  headers: Record<string, string>;
}

test('intercept … -- node app.mjs: the laptop app calls quote by name with fetch and http.get, through the manager, and the header propagates', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const api = await env.service('api');
  await env.service('quote');
  const alice = await env.developer('alice');
  const appFile = join(env.dir, 'app.mjs');
  await writeFile(appFile, LAPTOP_APP);
  const port = await freePort();

  const intercept = await startProcess([DETOUR_BIN, 'intercept', 'api', '--port', String(port), '--', process.execPath, appFile], /listening on (http:\S+)/, { ...alice.env, PORT: String(port) });
  t.after(() => stopProcess(intercept.child));
  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { header: { name: string; value: string } };
  const { name, value } = status.header;

  // A caller in the environment sends alice's header to api; the agent sends it to the laptop app.
  const answer = await eventually('the intercept to answer', async () => {
    const r = await request(`${api.agentUrls[0]}/checkout`, { headers: { [name]: value } });
    const body = (await r.body.json()) as { viaFetch?: EchoAnswer; viaHttp?: EchoAnswer; outside?: string };
    return body.viaFetch === undefined ? undefined : body;
  });
  assert.equal(answer.viaFetch?.app, 'quote');
  assert.equal(answer.viaFetch?.path, '/price?via=fetch');
  assert.equal(answer.viaFetch?.headers[name], value, 'fetch carried the intercept header');
  assert.equal(answer.viaHttp?.app, 'quote');
  assert.equal(answer.viaHttp?.headers[name], value, 'http.get carried the intercept header');
  // An outside name is not an environment name: it went direct (and .invalid never resolves, RFC 6761).
  assert.equal(answer.outside, 'error:ENOTFOUND');

  intercept.child.kill('SIGTERM');
  await eventually('the intercept to end with its command', async () => ((await env.intercepts('api')).length === 0 ? true : undefined));
});

test('detour run -- COMMAND: curl reaches services by name (HTTP, SOCKS5, HTTPS through CONNECT); outside destinations are refused; the exit code passes through', async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  await env.service('quote');
  const certs = await makeCertificates(env.dir, ['secure']);
  const secureApp = await env.app('secure');
  await env.agent('secure', secureApp.url, ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
  const alice = await env.developer('alice');
  const run = (script: string) => alice.cli(['run', '--', 'sh', '-c', script]);

  const plain = await run('curl -sS http://quote/hello');
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal((JSON.parse(plain.stdout) as EchoAnswer).app, 'quote');

  const socks = await run('curl -sS -x "$ALL_PROXY" http://quote:8080/socks');
  assert.equal(socks.code, 0, socks.stderr);
  assert.equal((JSON.parse(socks.stdout) as EchoAnswer).path, '/socks');

  // --http1.1: with ALPN h2 the agent speaks HTTP/2 to the app, and the echo app speaks HTTP/1.1 only.
  const tls = await run(`curl -sS --http1.1 --cacert ${certs.caFile} https://secure/over-tls`);
  assert.equal(tls.code, 0, tls.stderr);
  const overTls = JSON.parse(tls.stdout) as EchoAnswer;
  assert.equal(overTls.app, 'secure');
  assert.equal(overTls.path, '/over-tls');

  // Not an environment name: the proxy answers 403 with a JSON body, nothing goes to the internet.
  const outside = await run('curl -sS -w "\\n%{http_code}" http://outside.invalid/x');
  const [body, code] = outside.stdout.trim().split('\n');
  assert.equal(code, '403');
  const refusal = JSON.parse(body!) as { error: { code: string; message: string } };
  assert.equal(refusal.error.code, 'DETOUR_ERR_EGRESS_FORBIDDEN');
  assert.match(refusal.error.message, /outside\.invalid:80 is outside the environment.*services: quote, secure/);

  // SOCKS5 says so with its reply code 2, "connection not allowed by ruleset" (RFC 1928 §6); curl exits 97.
  const socksRefused = await run('curl -sS -x "$ALL_PROXY" http://outside.invalid/');
  assert.equal(socksRefused.code, 97, socksRefused.stderr);
  assert.match(socksRefused.stderr, /\(2\)/);

  const exited = await run('exit 7');
  assert.equal(exited.code, 7);

  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { outbound: { url: string; lastError?: { message: string } } };
  assert.match(status.outbound.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(status.outbound.lastError?.message ?? '', /outside\.invalid/);
});

// Test-only name resolution for the manager process: `*.staging` resolves to loopback, as
// `quote.staging` resolves to a Service address through a cluster's DNS. The manager's dial
// thus stays on 127.0.0.1 while it decides by the name, exactly as `--egress cluster` does.
const STAGING_DNS = `
const dns = require('node:dns');
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) { return lookup.call(this, String(host).endsWith('.staging') ? '127.0.0.1' : host, ...rest); };
`;

// A Node app that calls \`quote.staging\` (a Service of another namespace) with fetch and http.get, and prints what it got.
const STAGING_CALLER = `
import http from 'node:http';
const url = 'http://quote.staging:' + process.env.QUOTE_PORT + '/price';
const viaFetch = await fetch(url + '?via=fetch').then((r) => r.json(), (err) => 'error:' + String(err.cause?.code ?? err));
const viaHttp = await new Promise((resolve) => {
  http.get(url + '?via=http', (res) => { let body = ''; res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body))); })
    .on('error', (err) => resolve('error:' + (err.code ?? err.message)));
});
console.log(JSON.stringify({ viaFetch, viaHttp, hosts: process.env.DETOUR_OUTBOUND_HOSTS }));
`;

test('detour run -- node app.mjs: with --egress cluster --egress-namespace staging, quote.staging goes through the proxy with no DETOUR_OUTBOUND_HOSTS set by hand', async (t) => {
  const dnsFile = join(tmpdir(), `detour-staging-dns-${process.pid}.cjs`);
  await writeFile(dnsFile, STAGING_DNS);
  t.after(() => rm(dnsFile, { force: true }));
  const env = await Environment.create({ managerArgs: ['--egress', 'cluster', '--egress-namespace', 'staging'], managerEnv: { NODE_OPTIONS: `--require ${dnsFile}` } });
  t.after(() => env.close());
  // quote's app in "namespace staging": the manager reaches it by name (no agent needed in cluster mode).
  const quote = await env.app('quote');
  const alice = await env.developer('alice');
  const caller = join(env.dir, 'caller.mjs');
  await writeFile(caller, STAGING_CALLER);

  const status = JSON.parse((await alice.cli(['status', '--output', 'json'])).stdout) as { manager: { egress?: unknown } };
  assert.deepEqual(status.manager.egress, { mode: 'cluster', clusterDomain: 'cluster.local', namespaces: ['staging'], serviceCidrs: [] });

  const ran = await runCli(['run', '--', process.execPath, caller], { ...alice.env, QUOTE_PORT: new URL(quote.url).port, DETOUR_OUTBOUND_HOSTS: '.example.internal' });
  assert.equal(ran.code, 0, ran.stderr);
  const got = JSON.parse(ran.stdout.trim()) as { viaFetch: EchoAnswer | string; viaHttp: EchoAnswer | string; hosts: string };
  assert.equal((got.viaFetch as EchoAnswer).app, 'quote', `fetch: ${JSON.stringify(got.viaFetch)}`);
  assert.equal((got.viaFetch as EchoAnswer).path, '/price?via=fetch');
  assert.equal((got.viaHttp as EchoAnswer).app, 'quote', `http.get: ${JSON.stringify(got.viaHttp)}`);
  // The user's own entry stays first; the manager's policy adds its namespace and cluster domain.
  assert.equal(got.hosts, '.example.internal,.staging,.svc.cluster.local');

  const human = await alice.cli(['status']);
  assert.match(human.stdout, /names sent through it: SERVICE, \*\.svc, \*\.staging, \*\.svc\.cluster\.local \(the manager's --egress cluster\)/);
});
