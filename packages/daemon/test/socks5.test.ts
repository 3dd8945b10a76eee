import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetourError } from '@detour/core';
import { parseGreeting, parseRequest, reply, replyFor, SOCKS_REPLY } from '../src/socks5.js';

test('greeting: no-auth is chosen when offered, else 0xFF (RFC 1928 §3); short input waits for more', () => {
  assert.deepEqual(parseGreeting(Buffer.from([5])), { need: true });
  assert.deepEqual(parseGreeting(Buffer.from([5, 2, 0])), { need: true });
  const ok = parseGreeting(Buffer.from([5, 2, 2, 0, 0xaa]));
  assert.ok(!ok.need);
  assert.deepEqual([...ok.value], [5, 0]);
  assert.deepEqual([...ok.rest], [0xaa]);
  const none = parseGreeting(Buffer.from([5, 1, 2]));
  assert.ok(!none.need);
  assert.deepEqual([...none.value], [5, 0xff]);
});

test('request: CONNECT to a domain name, IPv4 and IPv6; other commands and address types get their reply codes', () => {
  const domain = Buffer.concat([Buffer.from([5, 1, 0, 3, 5]), Buffer.from('quote'), Buffer.from([0x1f, 0x90]), Buffer.from('GET')]);
  assert.deepEqual(parseRequest(domain.subarray(0, 8)), { need: true });
  const parsed = parseRequest(domain);
  assert.ok(!parsed.need && 'value' in parsed);
  assert.deepEqual(parsed.value, { host: 'quote', port: 8080 });
  assert.equal(parsed.rest.toString(), 'GET');
  const v4 = parseRequest(Buffer.from([5, 1, 0, 1, 10, 96, 0, 10, 0, 80]));
  assert.ok(!v4.need && 'value' in v4);
  assert.deepEqual(v4.value, { host: '10.96.0.10', port: 80 });
  const v6 = parseRequest(Buffer.from([5, 1, 0, 4, ...new Array(15).fill(0), 1, 0, 80]));
  assert.ok(!v6.need && 'value' in v6);
  assert.deepEqual(v6.value, { host: '0:0:0:0:0:0:0:1', port: 80 });
  assert.deepEqual(parseRequest(Buffer.from([5, 2, 0, 1, 0, 0, 0, 0, 0, 80])), { need: false, error: SOCKS_REPLY.commandNotSupported });
  assert.deepEqual(parseRequest(Buffer.from([5, 1, 0, 9, 0, 0, 0, 0, 0, 80])), { need: false, error: SOCKS_REPLY.addressTypeNotSupported });
});

test('a refusal outside the environment is "not allowed by ruleset"; a refused dial is "connection refused"', () => {
  assert.equal(replyFor(new DetourError('DETOUR_ERR_EGRESS_FORBIDDEN', 'x')), 0x02);
  assert.equal(replyFor(new DetourError('DETOUR_ERR_EGRESS_UNREACHABLE', 'x', { details: { errno: 'ECONNREFUSED' } })), 0x05);
  assert.equal(replyFor(new DetourError('DETOUR_ERR_EGRESS_UNREACHABLE', 'x')), 0x04);
  assert.equal(replyFor(new DetourError('DETOUR_ERR_EGRESS_OFFLINE', 'x')), 0x03);
  assert.deepEqual([...reply(0x02)], [5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
});
