import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  /** PEM files: a throwaway CA, and a leaf for 127.0.0.1/localhost it signed. */
  caFile: string;
  certFile: string;
  keyFile: string;
  ca: Buffer;
}

/** Makes a CA and a server certificate for 127.0.0.1 (and `dnsNames`, e.g. a service name) with openssl, valid for one day, in `dir`. */
export async function makeCertificates(dir: string, dnsNames: readonly string[] = []): Promise<TestCertificates> {
  const path = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', path('ca.key'), '-out', path('ca.crt'), '-subj', '/CN=detour test CA', '-days', '1']);
  await run('openssl', ['req', ...ec, '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(path('san.ext'), `subjectAltName=IP:127.0.0.1,DNS:localhost${dnsNames.map((n) => `,DNS:${n}`).join('')}\nextendedKeyUsage=serverAuth\n`);
  await run('openssl', ['x509', '-req', '-in', path('server.csr'), '-CA', path('ca.crt'), '-CAkey', path('ca.key'), '-CAcreateserial', '-out', path('server.crt'), '-days', '1', '-extfile', path('san.ext')]);
  return { caFile: path('ca.crt'), certFile: path('server.crt'), keyFile: path('server.key'), ca: await readFile(path('ca.crt')) };
}

/** A client certificate (for mTLS) signed by the CA in `dir` that {@link makeCertificates} made. */
export async function makeClientCertificate(dir: string, name: string): Promise<{ certFile: string; keyFile: string }> {
  const path = (file: string) => join(dir, file);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', ...ec, '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=${name}`]);
  await writeFile(path(`${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  await run('openssl', ['x509', '-req', '-in', path(`${name}.csr`), '-CA', path('ca.crt'), '-CAkey', path('ca.key'), '-CAcreateserial', '-out', path(`${name}.crt`), '-days', '1', '-extfile', path(`${name}.ext`)]);
  return { certFile: path(`${name}.crt`), keyFile: path(`${name}.key`) };
}
