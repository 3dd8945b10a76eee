import { BlockList, isIP } from 'node:net';

/** Decides which outbound hosts may receive the carried headers. */
export interface EgressPolicy {
  allows(host: string): boolean;
}

// Loopback, RFC 1918 private ranges and IPv6 unique-local addresses. Link-local
// (169.254/16) is left out on purpose: it is where cloud metadata services live.
const INTERNAL_SUBNETS: ReadonlyArray<readonly [string, number, 'ipv4' | 'ipv6']> = [
  ['127.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
];

// Kubernetes service names; `.localhost` is loopback by RFC 6761.
const INTERNAL_SUFFIXES: readonly string[] = ['.svc', '.svc.cluster.local', '.cluster.local', '.localhost'];

/**
 * Builds the policy: internal hosts (single-label names, cluster-local names,
 * loopback and private addresses) plus the validated `allowHosts` entries.
 */
export function createEgressPolicy(allowHosts: readonly string[]): EgressPolicy {
  if (allowHosts.includes('*')) return { allows: () => true };
  const addresses = new BlockList();
  for (const [network, prefix, family] of INTERNAL_SUBNETS) addresses.addSubnet(network, prefix, family);
  const exact = new Set<string>();
  const suffixes = [...INTERNAL_SUFFIXES];
  for (const entry of allowHosts) {
    const slash = entry.indexOf('/');
    if (slash !== -1) {
      const network = entry.slice(0, slash);
      addresses.addSubnet(network, Number(entry.slice(slash + 1)), isIP(network) === 6 ? 'ipv6' : 'ipv4');
    } else if (entry.startsWith('*.')) {
      suffixes.push(entry.slice(1));
    } else if (entry.startsWith('.')) {
      suffixes.push(entry);
    } else if (isIP(entry) !== 0) {
      addresses.addAddress(entry, isIP(entry) === 6 ? 'ipv6' : 'ipv4');
    } else {
      exact.add(entry);
    }
  }
  return {
    allows(rawHost: string): boolean {
      const host = normalizeHost(rawHost);
      if (host === '') return false;
      const family = isIP(host);
      if (family === 4) return addresses.check(host, 'ipv4');
      if (family === 6) return addresses.check(host, 'ipv6') || allowsMappedIpv4(addresses, host);
      if (!host.includes('.')) return true;
      return exact.has(host) || suffixes.some((s) => host.endsWith(s));
    },
  };
}

/** Lower-cases, removes IPv6 brackets and the root-zone dot ("api.example.com."). */
function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function allowsMappedIpv4(addresses: BlockList, host: string): boolean {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  return match?.[1] !== undefined && addresses.check(match[1], 'ipv4');
}
