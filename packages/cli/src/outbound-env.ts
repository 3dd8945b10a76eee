import { createRequire } from 'node:module';
import type { EgressNames } from '@detour/protocol';
import type { DaemonStatus } from '@detour/daemon/client';

/**
 * Suffixes of public names that never name an environment service, for tools that
 * read NO_PROXY (curl, Go, Python): their calls go direct. NO_PROXY can only list
 * what to leave out, so a name not listed here still goes to the proxy, which
 * refuses it (403 DETOUR_ERR_EGRESS_FORBIDDEN) rather than send it to the internet.
 */
const PUBLIC_SUFFIXES = ['.com', '.net', '.org', '.io', '.dev', '.app', '.cloud', '.ai', '.co', '.me', '.info', '.biz', '.us', '.uk', '.de', '.eu', '.fr', '.jp', '.cn', '.in', '.gov', '.edu'];
const LOOPBACK = ['localhost', '127.0.0.1', '::1', '.localhost'];

/** The preload that makes a Node command's fetch and http use the proxy for environment names (Node 20's fetch ignores HTTP_PROXY). */
const PROPAGATION_PRELOAD = createRequire(import.meta.url).resolve('@detour/propagation/register');

/**
 * The names beyond single labels and `*.svc(.cluster.local)` (which the preload routes
 * anyway) that the manager dials, in DETOUR_OUTBOUND_HOSTS' grammar: with `--egress
 * cluster`, `SERVICE.NAMESPACE` for each egress namespace (as the suffix `.NAMESPACE`:
 * a deeper name under it is refused by the manager, never sent to the internet),
 * `*.svc.<cluster domain>`, and the Service CIDRs. With `--egress agents` only single
 * labels are services, so nothing is added.
 */
export function egressHosts(egress: EgressNames | undefined): string[] {
  if (egress === undefined || egress.mode === 'agents') return [];
  return [...egress.namespaces.map((ns) => `.${ns}`), `.svc.${egress.clusterDomain}`, ...egress.serviceCidrs];
}

/**
 * What a command started by `detour run` or `detour intercept … -- COMMAND` gets:
 * the proxy variables (both spellings, as tools disagree), and for Node processes
 * (`NODE_OPTIONS`) the propagation preload with the proxy, so the intercept header
 * still reaches the services they call, and DETOUR_OUTBOUND_HOSTS from the manager's
 * egress policy ({@link egressHosts}). Values the user set already are kept.
 */
export function outboundEnvironment(status: DaemonStatus, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const proxy = status.outbound.url;
  const noProxy = [...LOOPBACK, ...PUBLIC_SUFFIXES].join(',');
  const preload = `--require ${JSON.stringify(PROPAGATION_PRELOAD)}`;
  const nodeOptions = env['NODE_OPTIONS'] === undefined || env['NODE_OPTIONS'] === '' ? preload : `${env['NODE_OPTIONS']} ${preload}`;
  // The user's own entries stay; the manager's policy adds what it dials (duplicates are harmless, but kept out).
  const given = (env['DETOUR_OUTBOUND_HOSTS'] ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
  const hosts = [...new Set([...given, ...egressHosts(status.manager.egress)])];
  return {
    ...env,
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    ALL_PROXY: status.outbound.socks,
    all_proxy: status.outbound.socks,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    NODE_OPTIONS: nodeOptions,
    DETOUR_OUTBOUND_PROXY: proxy,
    ...(hosts.length === 0 ? {} : { DETOUR_OUTBOUND_HOSTS: hosts.join(',') }),
    // Outbound calls through the proxy carry the header of the request that caused them.
    DETOUR_PROPAGATE_HEADERS: env['DETOUR_PROPAGATE_HEADERS'] ?? status.header.name,
  };
}
