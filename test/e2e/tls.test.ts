import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Environment } from './support/environment.js';
import { makeCertificates } from './support/certificates.js';
import type { TestCertificates } from './support/certificates.js';
import { EchoClient, grpc, metadataOf, startGrpcApp } from './support/grpc-client.js';
import { runCli, stopProcess } from './support/processes.js';

/** What the client saw: the protocol ALPN chose and the JSON the serving app answered. */
interface Seen {
  alpn: string | false | null;
  body: { app: string; protocol?: string };
}

/** GET over TLS with HTTP/1.1 offered by ALPN (RFC 7301). */
function getHttp1(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const agent = new https.Agent({ ca, ALPNProtocols: ['http/1.1'] });
    const req = https.get(`${url}/anything`, { headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        agent.destroy();
        resolve({ alpn: (res.socket as TLSSocket).alpnProtocol, body: JSON.parse(text) as Seen['body'] });
      });
    });
    req.on('error', reject);
  });
}

/** GET over TLS with ALPN h2. */
async function getHttp2(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<Seen & { status: number }> {
  const session = http2.connect(url, { ca, servername: 'localhost' });
  try {
    await once(session, 'connect');
    const stream = session.request({ ':path': '/anything', ...headers });
    const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    let text = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    await once(stream, 'end');
    return { status: Number(response[':status']), alpn: session.alpnProtocol ?? null, body: JSON.parse(text) as Seen['body'] };
  } finally {
    session.close();
  }
}

/** An app that serves TLS itself, with h2 and http/1.1 by ALPN, as a pod that terminates TLS would. */
async function httpsApp(certs: TestCertificates, name: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http2.createSecureServer({ cert: await readFile(certs.certFile), key: await readFile(certs.keyFile), allowHTTP1: true }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ app: name, protocol: req.httpVersion, headers: req.headers }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('TLS at the agent: ALPN h2 (gRPC) and http/1.1, re-encrypted to an https app, plaintext to the laptops', { timeout: 120_000 }, async (t) => {
  const env = await Environment.create();
  t.after(() => env.close());
  const certs = await makeCertificates(env.dir);
  const tlsFlags = ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile];

  await t.test('gRPC over TLS (ALPN h2): header-less to the https app, each developer to their plaintext laptop app', async () => {
    const cluster = await startGrpcApp('cluster', tlsFlags);
    const laptops = await Promise.all([startGrpcApp('alice-laptop'), startGrpcApp('bob-laptop')]);
    t.after(() => Promise.all([cluster, ...laptops].map((app) => stopProcess(app.child))));
    const agent = await env.agent('secure-grpc', cluster.value, [...tlsFlags, '--app-ca', certs.caFile]);
    assert.match(agent.url, /^https:\/\//);
    const developers = await Promise.all([env.developer('alice'), env.developer('bob')]);
    const headers = await Promise.all(
      developers.map(async (dev, i) => {
        const result = await dev.cli(['intercept', 'secure-grpc', '--port', new URL(laptops[i]!.value).port, '--output', 'json']);
        assert.equal(result.code, 0, result.stderr);
        return (JSON.parse(result.stdout) as { header: string }).header;
      }),
    );
    const client = new EchoClient(new URL(agent.url).host, grpc.credentials.createSsl(certs.ca));
    t.after(() => client.close());
    const replies = await Promise.all([client.unary('hi'), client.unary('hi', metadataOf(headers[0])), client.unary('hi', metadataOf(headers[1])), client.unary('fail', metadataOf(headers[0]))]);
    assert.deepEqual(
      replies.slice(0, 3).map((r) => r.reply?.servedBy),
      ['cluster', 'alice-laptop', 'bob-laptop'],
    );
    assert.equal(replies[3]!.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(replies[3]!.error?.details, 'refused by alice-laptop: 100% invalid');
  });

  await t.test('HTTP over TLS with ALPN http/1.1 and h2 on one agent port; matched to the laptop, unmatched to the https app', async () => {
    const app = await httpsApp(certs, 'secure-web');
    t.after(() => app.close());
    const agent = await env.agent('secure-web', app.url, [...tlsFlags, '--app-ca', certs.caFile]);
    const carol = await env.developer('carol');
    const [name, value] = await carol.interceptHeader('secure-web');

    const [plain1, plain2, matched1] = await Promise.all([getHttp1(agent.url, certs.ca), getHttp2(agent.url, certs.ca), getHttp1(agent.url, certs.ca, { [name]: value })]);
    assert.deepEqual([plain1.alpn, plain1.body.app, plain1.body.protocol], ['http/1.1', 'secure-web', '1.1']);
    assert.deepEqual([plain2.alpn, plain2.status, plain2.body.app, plain2.body.protocol], ['h2', 200, 'secure-web', '2.0']);
    assert.deepEqual([matched1.alpn, matched1.body.app], ['http/1.1', 'carol-laptop']);
  });

  await t.test("an https app whose certificate the agent cannot verify is not spoken to (502)", async () => {
    const app = await httpsApp(certs, 'untrusted');
    t.after(() => app.close());
    // No --app-ca: the test CA is not among the system's, so verification must fail.
    const agent = await env.agent('untrusted-web', app.url, tlsFlags);
    const seen = await new Promise<number>((resolve, reject) => {
      https.get(`${agent.url}/`, { ca: certs.ca, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(seen, 502);
  });

  await t.test('--tls-cert without --tls-key is a one-line usage error', async () => {
    const result = await runCli(['agent', '--service', 'x', '--listen', '0', '--app', 'http://127.0.0.1:1', '--manager', env.managerUrl, '--token-file', env.tokenFile, '--tls-cert', certs.certFile], {});
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(result.stderr, /--tls-cert and --tls-key go together/);
  });
});
