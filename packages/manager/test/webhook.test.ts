import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import https from 'node:https';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '@detour/core';
import type { Service, ServiceLookup } from '@detour/kube';
import { startManager } from '../src/index.js';
import type { ManagerHandle, WebhookOptions } from '../src/index.js';
import { testManagerOptions } from './inject.js';

const run = promisify(execFile);

/** A throwaway CA and a server certificate for 127.0.0.1/localhost, made with openssl at test time. */
async function makeCertificates(dir: string, label: string): Promise<{ certFile: string; keyFile: string; ca: Buffer }> {
  const path = (name: string) => join(dir, `${label}-${name}`);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', path('ca.key'), '-out', path('ca.crt'), '-subj', `/CN=detour webhook test CA ${label}`, '-days', '1']);
  await run('openssl', ['req', ...ec, '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=localhost']);
  await writeFile(path('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', path('server.csr'), '-CA', path('ca.crt'), '-CAkey', path('ca.key'), '-CAcreateserial', '-out', path('server.crt'), '-days', '1', '-extfile', path('san.ext')]);
  return { certFile: path('server.crt'), keyFile: path('server.key'), ca: await readFile(path('ca.crt')) };
}

function post(url: string, body: string, ca: Buffer, path?: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    // servername: the API server dials the webhook Service by DNS name, so it sends SNI.
    const req = https.request(
      { host: target.hostname, port: target.port, path: path ?? target.pathname, method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const SERVICES: Service[] = [{ metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } }];

function review(uid: string) {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-', labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'web', ports: [{ name: 'http', containerPort: 8080 }] }] } },
    },
  });
}

interface Answer {
  response: { uid: string; allowed: boolean; patchType?: string; patch?: string; warnings?: string[] };
}

async function startWith(t: { after(fn: () => Promise<void>): void }, webhook: Omit<WebhookOptions, 'logger' | 'host' | 'port'>): Promise<ManagerHandle> {
  const manager = await startManager(testManagerOptions({ webhook: { host: '127.0.0.1', port: 0, ...webhook } }));
  t.after(() => manager.close());
  assert.ok(manager.webhookUrl?.endsWith('/v1/webhook/inject'));
  return manager;
}

function admission(services: ServiceLookup): WebhookOptions['admission'] {
  return {
    services,
    options: { agentImage: 'detour:test', managerUrl: 'http://detour-manager.detour.svc:8080', tokenSecret: { name: 'detour-token', key: 'token' }, version: 'test' },
    logger: createLogger('manager', { level: 'silent' }),
  };
}

test('the manager serves the injector over HTTPS: a JSONPatch for a review, 400 for garbage, and it keeps serving', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-webhook-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const certs = await makeCertificates(dir, 'a');
  const manager = await startWith(t, { ...certs, admission: admission({ servicesIn: () => Promise.resolve(SERVICES) }) });
  const url = manager.webhookUrl ?? '';

  const ok = await post(url, review('uid-1'), certs.ca);
  assert.equal(ok.status, 200);
  const answer = (ok.body as Answer).response;
  assert.deepEqual([answer.uid, answer.allowed, answer.patchType], ['uid-1', true, 'JSONPatch']);
  const patch = JSON.parse(Buffer.from(answer.patch ?? '', 'base64').toString('utf8')) as Array<{ op: string; path: string }>;
  assert.deepEqual(patch.map((o) => `${o.op} ${o.path}`), ['add /metadata/annotations', 'replace /spec/containers', 'add /spec/volumes']);

  for (const garbage of ['{"apiVersion":', '{"kind":"AdmissionReview"}', '']) {
    const bad = await post(url, garbage, certs.ca);
    assert.equal(bad.status, 400, garbage);
    assert.equal((bad.body as { error: { code: string } }).error.code, 'DETOUR_ERR_WEBHOOK_BAD_REVIEW');
  }
  const notFound = await post(url, review('uid-2'), certs.ca, '/v1/other');
  assert.equal(notFound.status, 404);
  assert.equal((notFound.body as { error: { code: string } }).error.code, 'DETOUR_ERR_API_NOT_FOUND');

  const again = await post(`${url}?timeout=10s`, review('uid-3'), certs.ca);
  assert.equal((again.body as Answer).response.patchType, 'JSONPatch', 'still serving after bad requests');
});

test('an error inside the mutation fails open over the wire: allowed, no patch', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-webhook-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const certs = await makeCertificates(dir, 'a');
  // Forced internal error: the Service lookup throws the way a bug would (a TypeError), not a DetourError.
  const lookup: ServiceLookup = { servicesIn: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'items')")) };
  const manager = await startWith(t, { ...certs, admission: admission(lookup) });
  const answer = await post(manager.webhookUrl ?? '', review('uid-9'), certs.ca);
  assert.equal(answer.status, 200);
  const response = (answer.body as Answer).response;
  assert.deepEqual([response.uid, response.allowed, response.patch], ['uid-9', true, undefined]);
  assert.match(response.warnings?.[0] ?? '', /admitted without an agent/);
});

test('a rotated certificate is served without a restart; a half-written pair keeps the old one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'detour-webhook-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = await makeCertificates(dir, 'a');
  const b = await makeCertificates(dir, 'b');
  const live = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  await writeFile(live.certFile, await readFile(a.certFile));
  await writeFile(live.keyFile, await readFile(a.keyFile));
  const manager = await startWith(t, { ...live, admission: admission({ servicesIn: () => Promise.resolve(SERVICES) }) });
  const url = manager.webhookUrl ?? '';
  assert.equal((await post(url, review('u'), a.ca)).status, 200);

  // Mid-rotation: the new certificate with the old key does not load; the old pair stays.
  await writeFile(`${live.certFile}.new`, await readFile(b.certFile));
  await rename(`${live.certFile}.new`, live.certFile);
  assert.equal((await post(url, review('u'), a.ca)).status, 200, 'still the old certificate');

  // The key arrives: the next handshake serves the new pair, which CA b verifies and CA a does not.
  await writeFile(`${live.keyFile}.new`, await readFile(b.keyFile));
  await rename(`${live.keyFile}.new`, live.keyFile);
  assert.equal((await post(url, review('u'), b.ca)).status, 200);
  await assert.rejects(post(url, review('u'), a.ca), /self[- ]signed|unable to verify|certificate/i);
});
