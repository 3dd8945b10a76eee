import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AgentInfo } from '@detour/protocol';
import { DetourError } from '@detour/core';
import { createEgressPolicy, EGRESS_DEFAULTS, parseAuthority } from '../src/egress-policy.js';

const agent = (service: string, listen: string): AgentInfo => ({ id: `${service}-${listen}`, service, listen, protocol: 'http1', connectedAt: 0, ackedVersion: 0 });

test('parseAuthority reads host:port and [v6]:port, lower-cased, without the root dot', () => {
  assert.deepEqual(parseAuthority('Quote.:80'), { host: 'quote', port: 80 });
  assert.deepEqual(parseAuthority('[::1]:8080'), { host: '::1', port: 8080 });
  assert.equal(parseAuthority('quote'), undefined);
  assert.equal(parseAuthority('quote:0'), undefined);
  assert.equal(parseAuthority(undefined), undefined);
});

test('agents mode: a registered service is dialled at an agent, preferring one on the asked port; anything else is refused', () => {
  const agents = [agent('quote', '127.0.0.1:4001'), agent('quote', '127.0.0.1:4002'), agent('db', '0.0.0.0:5432')];
  const policy = createEgressPolicy(EGRESS_DEFAULTS, (s) => agents.filter((a) => a.service === s), () => ['db', 'quote']);
  assert.deepEqual(policy.decide({ host: 'quote', port: 4002 }), { host: '127.0.0.1', port: 4002 });
  const any = policy.decide({ host: 'quote', port: 80 });
  assert.ok(!(any instanceof DetourError) && [4001, 4002].includes(any.port));
  assert.deepEqual(policy.decide({ host: 'db', port: 5432 }), { host: '127.0.0.1', port: 5432 }, 'an agent bound to every interface is reached on loopback');
  const refused = policy.decide({ host: 'example.com', port: 443 });
  assert.ok(refused instanceof DetourError);
  assert.equal(refused.code, 'DETOUR_ERR_EGRESS_FORBIDDEN');
  assert.equal(refused.status, 403);
  assert.match(refused.message, /example\.com:443 is outside the environment: no registered service is called example\.com \(services: db, quote\)/);
});

test('cluster mode: Service DNS names and Service CIDR addresses are inside; public names, loopback and other IPs are not', () => {
  const policy = createEgressPolicy({ mode: 'cluster', clusterDomain: 'cluster.local', namespaces: ['staging'], serviceCidrs: ['10.96.0.0/12'] }, () => [], () => []);
  const inside = ['quote', 'quote.staging', 'quote.other.svc', 'quote.staging.svc.cluster.local', '10.96.0.10'];
  for (const host of inside) assert.deepEqual(policy.decide({ host, port: 80 }), { host, port: 80 }, host);
  const outside = ['example.com', 'quote.other', 'quote.staging.svc.evil.com', 'localhost', 'api.localhost', '127.0.0.1', '169.254.169.254', '8.8.8.8'];
  for (const host of outside) {
    const decided = policy.decide({ host, port: 80 });
    assert.ok(decided instanceof DetourError && decided.code === 'DETOUR_ERR_EGRESS_FORBIDDEN', host);
  }
  const refused = policy.decide({ host: 'example.com', port: 443 }) as DetourError;
  assert.match(refused.message, /SERVICE, SERVICE\.staging, SERVICE\.NAMESPACE\.svc\.cluster\.local\) and Service addresses in 10\.96\.0\.0\/12/);
});
