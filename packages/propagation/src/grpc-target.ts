/**
 * The hosts a grpc-js channel target names, for the egress check. grpc-js
 * targets look like `dns:host:443`, `dns:///host:443`, `dns://resolver/host:443`,
 * `ipv4:10.0.0.1:80,10.0.0.2:80`, `ipv6:[::1]:80`, `unix:/path` or `host:443`.
 * Returns an empty list when the target is not understood, which the caller
 * treats as external.
 */
export function hostsOfGrpcTarget(target: string): string[] {
  if (/^unix(-abstract)?:/.test(target)) return ['localhost'];
  let rest = target.replace(/^(dns|ipv4|ipv6):/, '');
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    if (slash === -1) return [];
    rest = rest.slice(slash + 1);
  }
  const hosts: string[] = [];
  for (const part of rest.split(',')) {
    const host = hostOfAddress(part.trim());
    if (host === '') return [];
    hosts.push(host);
  }
  return hosts;
}

function hostOfAddress(address: string): string {
  if (address.startsWith('[')) {
    const end = address.indexOf(']');
    return end === -1 ? '' : address.slice(1, end);
  }
  const colons = address.split(':').length - 1;
  // More than one colon without brackets is a bare IPv6 address.
  if (colons > 1) return address;
  return colons === 1 ? address.slice(0, address.indexOf(':')) : address;
}
