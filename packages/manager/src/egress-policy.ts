import { BlockList, isIP } from 'node:net';
import type { AgentInfo, EgressNames } from '@detour/protocol';
import { DetourError } from '@detour/core';

/**
 * Which destinations the manager dials for a developer's outbound call (`detour run`,
 * the daemon's proxy). Only ones inside the environment: never the internet, so a
 * laptop cannot use the manager as an open proxy into wherever the manager sits.
 */
export interface EgressOptions {
  /**
   * `agents` (plain processes): a destination is the name of a service with a
   * registered agent, dialled at that agent's listen address. `cluster` (the
   * manager runs in Kubernetes): cluster DNS names and service addresses, dialled
   * as given, so the cluster's DNS resolves them.
   */
  mode: 'agents' | 'cluster';
  /** The cluster's DNS domain (`cluster.local`): `quote.staging.svc.cluster.local`. */
  clusterDomain: string;
  /** Namespaces whose `<service>.<namespace>` names count as inside (the manager's own, at least). */
  namespaces: readonly string[];
  /** The cluster's Service CIDRs: an IP destination inside one is a Service's address. */
  serviceCidrs: readonly string[];
}

export const EGRESS_DEFAULTS: EgressOptions = Object.freeze({ mode: 'agents', clusterDomain: 'cluster.local', namespaces: [], serviceCidrs: [] });

/** What daemons are told of the policy (`/v1/info`), so that laptop processes send exactly these names through the proxy. */
export function egressNames(options: EgressOptions): EgressNames {
  return { mode: options.mode, clusterDomain: normalizeHost(options.clusterDomain), namespaces: [...options.namespaces], serviceCidrs: [...options.serviceCidrs] };
}

export interface EgressTarget {
  host: string;
  port: number;
}

/** Reads `host:port` (IPv6 in brackets, RFC 9113 §8.5 `:authority` of a CONNECT). */
export function parseAuthority(authority: string | undefined): EgressTarget | undefined {
  if (authority === undefined) return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(authority);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: normalizeHost(match[1] ?? match[2]!), port };
}

/** Lower-case, without the root-zone dot (`quote.` is `quote`). */
function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function forbidden(target: EgressTarget, why: string): DetourError {
  return new DetourError('DETOUR_ERR_EGRESS_FORBIDDEN', `${target.host}:${target.port} is outside the environment: ${why}`, { details: { host: target.host, port: target.port } });
}

export interface EgressPolicy {
  /** Where to dial for `target`, or the refusal the caller is shown. */
  decide(target: EgressTarget): EgressTarget | DetourError;
}

/** Builds the policy; `agentsOf` is read on every call, so it always sees the agents connected now. */
export function createEgressPolicy(options: EgressOptions, agentsOf: (service: string) => AgentInfo[], services: () => string[]): EgressPolicy {
  const cidrs = new BlockList();
  for (const cidr of options.serviceCidrs) {
    const [network, bits] = cidr.split('/');
    cidrs.addSubnet(network!, Number(bits), isIP(network!) === 6 ? 'ipv6' : 'ipv4');
  }
  const domain = normalizeHost(options.clusterDomain);
  const namespaces = new Set(options.namespaces);
  let turn = 0;

  const viaAgent = (target: EgressTarget): EgressTarget | DetourError => {
    const agents = agentsOf(target.host).map((a) => ({ agent: a, at: parseAuthority(a.listen) })).filter((a) => a.at !== undefined);
    if (agents.length === 0) {
      const known = services();
      return forbidden(target, `no registered service is called ${target.host} (services: ${known.length === 0 ? '(none)' : known.join(', ')})`);
    }
    // An agent listening on the port asked for, if any (a service fronted on several ports); else the service's one port.
    const onPort = agents.filter((a) => a.at!.port === target.port);
    const pool = onPort.length > 0 ? onPort : agents;
    const chosen = pool[turn++ % pool.length]!.at!;
    // An agent bound to every interface is reached on loopback: the manager runs next to it.
    const host = chosen.host === '0.0.0.0' || chosen.host === '::' ? '127.0.0.1' : chosen.host;
    return { host, port: chosen.port };
  };

  const inCluster = (target: EgressTarget): boolean => {
    const { host } = target;
    const family = isIP(host);
    if (family !== 0) return cidrs.check(host, family === 6 ? 'ipv6' : 'ipv4');
    if (host === 'localhost' || host.endsWith('.localhost')) return false;
    const labels = host.split('.');
    if (labels.length === 1) return true; // `quote`: the manager's own namespace, through the pod's DNS search path
    if (labels.length === 2) return namespaces.has(labels[1]!); // `quote.staging`; `example.com` is not a namespace
    if (labels.length === 3) return labels[2] === 'svc'; // `quote.staging.svc`
    return labels[2] === 'svc' && labels.slice(3).join('.') === domain; // `quote.staging.svc.cluster.local`
  };

  return {
    decide(target) {
      if (options.mode === 'agents') return viaAgent(target);
      if (inCluster(target)) return target;
      const names = [...namespaces].map((ns) => `SERVICE.${ns}`);
      return forbidden(target, `the manager dials only Service names (SERVICE, ${names.length === 0 ? '' : `${names.join(', ')}, `}SERVICE.NAMESPACE.svc.${domain})${options.serviceCidrs.length === 0 ? '' : ` and Service addresses in ${options.serviceCidrs.join(', ')}`}`);
    },
  };
}
