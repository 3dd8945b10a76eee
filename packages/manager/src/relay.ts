import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE } from '@detour/protocol';
import { DetourError, interceptOfflineError } from '@detour/core';
import type { Logger } from '@detour/core';
import { respondStreamError } from '@detour/transport';
import type { ManagerState } from './state.js';
import type { Tunnels } from './tunnels.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Copies the string-keyed headers of a received HEADERS frame; node adds symbol keys we must not forward. */
function copyHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const copy: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) copy[name] = headers[name];
  return copy;
}

/**
 * Relays one matched request, received from an agent, to the developer's tunnel
 * and the answer back, stream to stream. HTTP/2 flow control on both legs gives
 * end-to-end backpressure, so nothing here buffers a body.
 */
export function relayStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, endStream: boolean, state: ManagerState, tunnels: Tunnels, logger: Logger): void {
  const interceptId = String(headers[RELAY_HEADER_INTERCEPT_ID]);
  const intercept = state.getIntercept(interceptId);
  const tunnel = intercept === undefined ? undefined : tunnels.get(intercept.owner.sessionId);
  if (intercept === undefined || tunnel === undefined || tunnel.destroyed) {
    const error =
      intercept === undefined
        ? new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `intercept ${interceptId} no longer exists`, { details: { intercept: interceptId } })
        : interceptOfflineError(intercept);
    respondStreamError(stream, error, { [RELAY_HEADER_OFFLINE]: interceptId });
    return;
  }
  // A CONNECT stream (an agent's connection to the developer's local app) is a
  // byte tunnel: only DATA may follow its response HEADERS (RFC 9113 §8.5), so no trailers.
  const isTunnel = headers[':method'] === 'CONNECT';

  let upstream: http2.ClientHttp2Stream;
  try {
    upstream = tunnel.request(copyHeaders(headers), { endStream });
  } catch (err) {
    logger.warn({ interceptId, err: (err as Error).message }, 'could not open a stream on the tunnel');
    respondStreamError(stream, new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `the tunnel of ${intercept.owner.name} is closing`, { cause: err }), { [RELAY_HEADER_OFFLINE]: interceptId });
    return;
  }
  if (!endStream) stream.pipe(upstream);

  let trailers: OutgoingHttpHeaders | undefined;
  upstream.on('response', (responseHeaders, flags) => {
    if (stream.destroyed) return;
    const ended = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    stream.respond(copyHeaders(responseHeaders), { endStream: ended, waitForTrailers: !ended && !isTunnel });
    if (ended) return;
    // node ends a stream's readable side when its session is destroyed (a missed
    // ping, a closed socket), so a dead tunnel would reach the agent as a clean
    // END_STREAM: a response cut short would look complete, or its caller would
    // wait for the rest. Only a real END_STREAM from the tunnel ends the agent's leg.
    upstream.pipe(stream, { end: false });
    upstream.once('end', () => {
      if (tunnel.destroyed) stream.close(NGHTTP2_CANCEL);
      else stream.end();
    });
  });
  upstream.on('trailers', (received) => {
    trailers = copyHeaders(received);
  });
  stream.on('wantTrailers', () => stream.sendTrailers(trailers ?? {}));

  // A reset on either leg is passed on to the other, and to nothing else.
  // A leg that closes before the other finished cancels it; a normal end on both
  // sides needs no reset (one per request would cost every hop an RST frame).
  stream.on('close', () => {
    const reset = stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
    if (!upstream.closed && (reset || !upstream.readableEnded)) upstream.close(reset ? stream.rstCode : NGHTTP2_CANCEL);
  });
  upstream.on('close', () => {
    if (stream.closed) return;
    if (!stream.headersSent && tunnel.destroyed) {
      // The developer became unreachable before their side answered (a missed ping,
      // a laptop asleep): that is the intercept going offline, and its policy decides.
      respondStreamError(stream, interceptOfflineError(intercept), { [RELAY_HEADER_OFFLINE]: interceptId });
    } else if (!stream.headersSent && upstream.rstCode === NGHTTP2_REFUSED_STREAM) {
      // RFC 9113 §8.7: the developer's side did not process the stream, so the agent
      // may still send it elsewhere (its offline policy): pass the refusal on as it is.
      stream.close(NGHTTP2_REFUSED_STREAM);
    } else if (!stream.headersSent) {
      respondStreamError(stream, new DetourError('DETOUR_ERR_LOCAL_APP_UNREACHABLE', `the tunnel of ${intercept.owner.name} closed the stream before answering`));
    } else if (upstream.rstCode !== undefined && upstream.rstCode !== 0) {
      stream.close(upstream.rstCode);
    }
  });
  upstream.on('error', (err) => logger.debug({ interceptId, err: err.message }, 'tunnel stream error'));
  stream.on('error', (err) => logger.debug({ interceptId, err: err.message }, 'agent stream error'));
}
