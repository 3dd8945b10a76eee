import net from 'node:net';
import tls from 'node:tls';
import { DetourError } from '@detour/core';

/**
 * The one place every client of the manager (the agent's link, the daemon's API
 * client and tunnel, the CLI) learns how to reach it: the URL, the TLS options
 * that verify it, and whether sending the token there is safe. No client builds
 * its own TLS options, so a `--manager-ca` or a client certificate applies to
 * every connection alike.
 */

/** What a client was told about the manager, before validation. PEM contents, not file names. */
export interface ManagerEndpointOptions {
  /** `--manager-ca`: the CA bundle that verifies an `https://` manager (default: the system's CAs). */
  ca?: Buffer;
  /** `--client-cert`/`--client-key`: presented to a manager run with `--client-ca` (mTLS). */
  cert?: Buffer;
  key?: Buffer;
  /** `--insecure`: allow the token over cleartext to a non-loopback manager. */
  insecure?: boolean;
  /**
   * The caller runs in the manager's own process and dials the port it serves (the
   * preview gateway of `detour manager --preview-listen`): the token never leaves the
   * process's own host, and the certificate is the one it serves itself, which may not
   * name the address dialled; it is not checked.
   */
  sameProcess?: boolean;
  /**
   * The host name the manager's certificate is issued for, when the URL's host is not it:
   * a port-forward's local end (127.0.0.1) in front of the manager's Service
   * (`RELEASE-detour.NAMESPACE.svc`). Sent as SNI and checked against the certificate.
   */
  servername?: string;
}

/** A validated manager address. */
export interface ManagerEndpoint {
  /** The URL's origin, `http://host:port` or `https://host:port`. */
  readonly origin: string;
  readonly url: URL;
  /** For `tls.connect` / undici's `connect`: CA, client identity and SNI; undefined for `http://`. */
  readonly tls: Readonly<tls.ConnectionOptions> | undefined;
  /**
   * Set when `--insecure` lets the token cross the network in cleartext: the
   * warning to print once at start-up (one line, saying why it is dangerous).
   */
  readonly cleartextWarning: string | undefined;
}

/** Which flag names the messages quote; the CLI's, unless a caller has its own. */
export interface EndpointFlagNames {
  manager: string;
  ca: string;
  insecure: string;
}

const CLI_FLAGS: EndpointFlagNames = { manager: '--manager', ca: '--manager-ca', insecure: '--insecure' };

/** Whether a URL's host is this machine: 127.0.0.0/8, ::1, or `localhost` (RFC 6761 §6.3 lets it resolve nowhere else). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) {
    if (host === '::1') return true;
    // An IPv4-mapped loopback (::ffff:127.x.y.z), as node may print it.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/**
 * Validates the manager's URL and the TLS flags that go with it, and decides
 * whether the token may be sent there. Throws a user error (exit 2) naming the
 * flag: a cleartext URL that leaves the machine without `--insecure`, TLS flags
 * given for an `http://` manager, half a client identity.
 */
export function managerEndpoint(urlText: string, options: ManagerEndpointOptions = {}, flags: EndpointFlagNames = CLI_FLAGS): ManagerEndpoint {
  let url: URL;
  try {
    url = new URL(urlText);
  } catch (cause) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `${flags.manager} ${JSON.stringify(urlText)} is not a URL; use http://host:port or https://host:port`, { cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `${flags.manager} ${JSON.stringify(urlText)} must be an http:// or https:// URL`);
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--client-cert and --client-key go together: give both (the certificate and its key) or neither');
  }
  const https = url.protocol === 'https:';
  if (!https && (options.ca !== undefined || options.cert !== undefined)) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `${options.ca !== undefined ? flags.ca : '--client-cert'} applies to an https:// manager, but ${flags.manager} is ${url.origin}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let cleartextWarning: string | undefined;
  if (!https && !isLoopbackHost(host) && options.sameProcess !== true) {
    if (options.insecure !== true) {
      throw new DetourError(
        'DETOUR_ERR_TLS_CLEARTEXT_TOKEN',
        `refusing to send the token in cleartext to ${url.origin}: use an https:// manager (detour manager --tls-cert/--tls-key), or pass ${flags.insecure} if the network between is trusted`,
      );
    }
    cleartextWarning = `${flags.insecure}: the token and all tunnelled traffic cross the network to ${url.origin} unencrypted; anyone on the path can read them and use the token as you`;
  }
  if (https && options.cert !== undefined) {
    try {
      tls.createSecureContext({ cert: options.cert, key: options.key });
    } catch (err) {
      throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `--client-cert/--client-key are not a usable PEM certificate and key: ${(err as Error).message}`, { cause: err });
    }
  }
  const tlsOptions: tls.ConnectionOptions | undefined = https
    ? Object.freeze({
        // SNI carries host names only (RFC 6066 §3); an IP is checked against the certificate's IP SANs.
        ...(options.servername !== undefined ? { servername: options.servername } : net.isIP(host) === 0 ? { servername: host } : {}),
        ...(options.ca === undefined ? {} : { ca: options.ca }),
        ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
        ...(options.sameProcess === true ? { rejectUnauthorized: false } : {}),
      })
    : undefined;
  return Object.freeze({ origin: url.origin, url, tls: tlsOptions, cleartextWarning });
}

/** Opens a TCP or TLS connection to the manager (Nagle off: relayed traffic is many small frames). */
export function connectToManager(endpoint: ManagerEndpoint, alpn: string[]): net.Socket {
  const host = endpoint.url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(endpoint.url.port || (endpoint.tls === undefined ? 80 : 443));
  if (endpoint.tls === undefined) return net.connect({ host, port, noDelay: true });
  return tls.connect({ host, port, ...endpoint.tls, ALPNProtocols: alpn }).setNoDelay(true);
}

/** node's codes for a certificate that does not verify: unknown issuer, self-signed, wrong name, out of date. */
const CERTIFICATE_CODES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'is signed by a CA this client does not trust',
  UNABLE_TO_GET_ISSUER_CERT: 'is signed by a CA this client does not trust',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'is signed by a CA this client does not trust',
  SELF_SIGNED_CERT_IN_CHAIN: 'chains to a CA this client does not trust',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'is self-signed and not trusted',
  CERT_UNTRUSTED: 'is not trusted',
  CERT_SIGNATURE_FAILURE: 'has a bad signature',
  CERT_HAS_EXPIRED: 'has expired',
  CERT_NOT_YET_VALID: 'is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'does not name this host',
};

/**
 * A TLS verification failure reaching the manager, as the one-line user error
 * that names the flag to fix it; undefined when `err` is anything else. Looks
 * through `cause` (undici wraps socket errors).
 */
export function managerTlsFailure(err: unknown, endpoint: ManagerEndpoint, flags: EndpointFlagNames = CLI_FLAGS): DetourError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    const what = code === undefined ? undefined : CERTIFICATE_CODES[code];
    if (what === undefined) continue;
    // Through a port-forward the name checked is not the URL's host: say which it was.
    const servername = endpoint.tls?.servername;
    const forwarded = servername !== undefined && servername !== endpoint.url.hostname ? servername : undefined;
    const wrongName = forwarded === undefined ? `, or use the host name the certificate was issued for in ${flags.manager}` : `, or issue the manager's certificate for ${forwarded}`;
    return new DetourError(
      'DETOUR_ERR_TLS_MANAGER_UNTRUSTED',
      `the manager at ${endpoint.origin}${forwarded === undefined ? '' : ` (${forwarded})`} presented a TLS certificate that ${what} (${code}); pass the CA that signed it with ${flags.ca} FILE${code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? wrongName : ''}`,
      { cause: e },
    );
  }
  return undefined;
}
