import { isIPv4, isIPv6 } from 'node:net';
import type { DetourError } from '@detour/core';

/** SOCKS protocol version 5 (RFC 1928), the only one served. */
export const SOCKS_VERSION = 0x05;
const METHOD_NO_AUTH = 0x00;
const METHOD_NONE_ACCEPTABLE = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;

/** Reply codes, RFC 1928 §6. */
export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type SocksParse<T> = { need: true } | { need: false; value: T; rest: Buffer };
export type SocksRequestParse = SocksParse<{ host: string; port: number }> | { need: false; error: number };

/** The greeting (§3): which methods the client offers. Answers no-auth when offered, else "no acceptable methods". */
export function parseGreeting(buf: Buffer): SocksParse<Buffer> {
  if (buf.length < 2) return { need: true };
  const count = buf[1]!;
  if (buf.length < 2 + count) return { need: true };
  const methods = buf.subarray(2, 2 + count);
  const reply = Buffer.from([SOCKS_VERSION, methods.includes(METHOD_NO_AUTH) ? METHOD_NO_AUTH : METHOD_NONE_ACCEPTABLE]);
  return { need: false, value: reply, rest: buf.subarray(2 + count) };
}

/** The request (§4): CONNECT to an IPv4, IPv6 or domain-name destination. BIND and UDP ASSOCIATE are refused. */
export function parseRequest(buf: Buffer): SocksRequestParse {
  if (buf.length < 5) return { need: true };
  if (buf[0] !== SOCKS_VERSION) return { need: false, error: SOCKS_REPLY.generalFailure };
  if (buf[1] !== CMD_CONNECT) return { need: false, error: SOCKS_REPLY.commandNotSupported };
  const atyp = buf[3];
  let host: string;
  let end: number;
  if (atyp === ATYP_IPV4) {
    end = 4 + 4;
    if (buf.length < end + 2) return { need: true };
    host = [...buf.subarray(4, end)].join('.');
  } else if (atyp === ATYP_IPV6) {
    end = 4 + 16;
    if (buf.length < end + 2) return { need: true };
    const words: string[] = [];
    for (let i = 4; i < end; i += 2) words.push(buf.readUInt16BE(i).toString(16));
    host = words.join(':');
  } else if (atyp === ATYP_DOMAIN) {
    const length = buf[4]!;
    end = 5 + length;
    if (buf.length < end + 2) return { need: true };
    host = buf.subarray(5, end).toString('latin1');
  } else {
    return { need: false, error: SOCKS_REPLY.addressTypeNotSupported };
  }
  return { need: false, value: { host, port: buf.readUInt16BE(end) }, rest: buf.subarray(end + 2) };
}

/** A reply (§6). The bound address is unknown to the client's purpose (the manager dialled), so it is 0.0.0.0:0. */
export function reply(code: number): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

/** The SOCKS reply a client shows for a detour refusal: "not allowed by ruleset" for a destination outside the environment. */
export function replyFor(err: DetourError): number {
  switch (err.code) {
    case 'DETOUR_ERR_EGRESS_FORBIDDEN':
      return SOCKS_REPLY.notAllowed;
    case 'DETOUR_ERR_EGRESS_UNREACHABLE':
      return err.details?.['errno'] === 'ECONNREFUSED' ? SOCKS_REPLY.connectionRefused : SOCKS_REPLY.hostUnreachable;
    case 'DETOUR_ERR_EGRESS_OFFLINE':
      return SOCKS_REPLY.networkUnreachable;
    default:
      return SOCKS_REPLY.generalFailure;
  }
}

/** Whether a host the client sent is well-formed enough to forward. */
export function plausibleHost(host: string): boolean {
  return isIPv4(host) || isIPv6(host) || /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$/.test(host);
}
