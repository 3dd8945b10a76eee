import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopbackHost, managerEndpoint, managerTlsFailure } from '../src/index.js';

test('issue 13: loopback is 127.0.0.0/8, ::1 and localhost; nothing else is', () => {
  for (const host of ['127.0.0.1', '127.0.0.2', '127.255.255.254', 'localhost', 'LOCALHOST', 'api.localhost', '[::1]', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
  for (const host of ['10.0.0.5', '192.168.1.10', '0.0.0.0', 'manager.example.com', 'detour-manager.detour.svc', '[::]', '::ffff:10.0.0.1', 'localhost.example.com', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
});

test('issue 13: a token is never sent in cleartext off this machine without --insecure, which then warns', () => {
  for (const url of ['http://manager.example.com:8700', 'http://10.0.0.5:8700', 'http://[fd00::1]:8700']) {
    assert.throws(() => managerEndpoint(url), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DETOUR_ERR_TLS_CLEARTEXT_TOKEN');
      assert.match(err.message, /^refusing to send the token in cleartext to http:\/\/\S+: use an https:\/\/ manager .*or pass --insecure/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    const insecure = managerEndpoint(url, { insecure: true });
    assert.match(insecure.cleartextWarning ?? '', /^--insecure: the token and all tunnelled traffic cross the network to http:\/\/\S+ unencrypted; anyone on the path can read them/);
    assert.equal(insecure.tls, undefined);
  }
  // Loopback needs no flag and gets no warning; https never does.
  assert.equal(managerEndpoint('http://127.0.0.1:8700').cleartextWarning, undefined);
  assert.equal(managerEndpoint('http://localhost:8700', { insecure: true }).cleartextWarning, undefined);
  assert.equal(managerEndpoint('https://manager.example.com').cleartextWarning, undefined);
});

test('issue 13: TLS options come from one place: CA, client identity, SNI for names only', () => {
  const ca = Buffer.from('ca');
  const byName = managerEndpoint('https://manager.example.com:8700/', { ca });
  assert.equal(byName.origin, 'https://manager.example.com:8700');
  assert.deepEqual({ ...byName.tls }, { servername: 'manager.example.com', ca });
  assert.deepEqual({ ...managerEndpoint('https://127.0.0.1:8700').tls }, {});
  assert.throws(() => managerEndpoint('http://127.0.0.1:8700', { ca }), /--manager-ca applies to an https:\/\/ manager/);
  assert.throws(() => managerEndpoint('https://127.0.0.1:8700', { cert: Buffer.from('x') }), /--client-cert and --client-key go together/);
  assert.throws(() => managerEndpoint('ftp://127.0.0.1'), /must be an http:\/\/ or https:\/\/ URL/);
  assert.throws(() => managerEndpoint('nope'), /is not a URL/);
});

test('issue 13: a certificate that does not verify is one line naming --manager-ca; other errors pass through', () => {
  const endpoint = managerEndpoint('https://127.0.0.1:8700');
  const tlsError = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  const wrapped = new Error('fetch failed', { cause: tlsError });
  const err = managerTlsFailure(wrapped, endpoint);
  assert.equal(err?.code, 'DETOUR_ERR_TLS_MANAGER_UNTRUSTED');
  assert.equal(err?.message, 'the manager at https://127.0.0.1:8700 presented a TLS certificate that is signed by a CA this client does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE); pass the CA that signed it with --manager-ca FILE');
  const altname = managerTlsFailure(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), endpoint);
  assert.match(altname?.message ?? '', /does not name this host .*--manager-ca FILE, or use the host name the certificate was issued for in --manager$/);
  assert.equal(managerTlsFailure(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), endpoint), undefined);
});

test('a port-forward\'s local end is verified as the name the certificate is issued for (servername), which the errors quote', () => {
  const ca = Buffer.from('ca');
  const forwarded = managerEndpoint('https://127.0.0.1:41234', { ca, servername: 'detour.detour.svc' });
  assert.deepEqual({ ...forwarded.tls }, { servername: 'detour.detour.svc', ca });
  const untrusted = managerTlsFailure(Object.assign(new Error('x'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), forwarded);
  assert.equal(untrusted?.message, 'the manager at https://127.0.0.1:41234 (detour.detour.svc) presented a TLS certificate that is signed by a CA this client does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE); pass the CA that signed it with --manager-ca FILE');
  const altname = managerTlsFailure(Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), forwarded);
  assert.match(altname?.message ?? '', /\(detour\.detour\.svc\) presented a TLS certificate that does not name this host .*--manager-ca FILE, or issue the manager's certificate for detour\.detour\.svc$/);
});
