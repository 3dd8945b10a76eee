import net from 'node:net';
import type { ServerHttp2Stream } from 'node:http2';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { respondStreamError, spliceStream } from '@detour/transport';
import { parseAuthority } from './egress-policy.js';
import type { EgressPolicy } from './egress-policy.js';

/** A destination that accepts nothing within this long is reported unreachable. */
const DIAL_TIMEOUT_MS = 10_000;

/**
 * One outbound connection of a developer's laptop process: a plain CONNECT stream
 * (RFC 9113 §8.5) on the daemon's HTTP/2 session, `:authority` the destination as
 * the laptop named it. The policy maps it to an address inside the environment or
 * refuses it (403 JSON); the manager dials, answers 200 once connected, and splices.
 */
export function serveEgress(stream: ServerHttp2Stream, authority: string | undefined, policy: EgressPolicy, who: string, logger: Logger): void {
  const target = parseAuthority(authority);
  if (target === undefined) {
    respondStreamError(stream, new DetourError('DETOUR_ERR_API_BAD_REQUEST', `an outbound CONNECT needs :authority host:port, got ${JSON.stringify(authority ?? '')}`));
    return;
  }
  const decided = policy.decide(target);
  if (decided instanceof DetourError) {
    logger.info({ developer: who, host: target.host, port: target.port }, 'outbound call refused: outside the environment');
    respondStreamError(stream, decided);
    return;
  }
  const socket = net.connect({ host: decided.host, port: decided.port, allowHalfOpen: true, noDelay: true });
  socket.setTimeout(DIAL_TIMEOUT_MS);
  const failed = (reason: string, errno?: string) => {
    socket.destroy();
    logger.info({ developer: who, host: target.host, port: target.port, reason }, 'outbound call unreachable');
    const via = decided.host === target.host && decided.port === target.port ? '' : ` (at ${decided.host}:${decided.port})`;
    respondStreamError(stream, new DetourError('DETOUR_ERR_EGRESS_UNREACHABLE', `${target.host}:${target.port}${via} did not accept the connection from the manager: ${reason}`, { details: { host: target.host, port: target.port, ...(errno === undefined ? {} : { errno }) } }));
  };
  const onError = (err: Error & { code?: string }) => failed(err.code ?? err.message, err.code);
  const onTimeout = () => failed(`no answer within ${DIAL_TIMEOUT_MS} ms`);
  socket.once('error', onError);
  socket.once('timeout', onTimeout);
  stream.once('close', () => {
    if (socket.connecting) socket.destroy();
  });
  socket.once('connect', () => {
    socket.off('error', onError);
    socket.off('timeout', onTimeout);
    socket.setTimeout(0);
    if (stream.destroyed) {
      socket.destroy();
      return;
    }
    stream.respond({ ':status': 200 });
    spliceStream(stream, socket);
  });
}
