import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { RELAY_HEADER_INTERCEPT_ID, RELAY_HEADER_OFFLINE } from '@detour/protocol';
import { DetourError } from '@detour/core';
import type { Logger } from '@detour/core';
import { LocalHttp2Forwarder } from './local-h2.js';
import { forwardConnection } from './local-tunnel.js';
import { respondStreamError } from '@detour/transport';
import type { CaptureSwitch } from './capture/capture.js';

/**
 * Serves the streams that arrive over the tunnel, each for one intercept's
 * 127.0.0.1:<localPort>: a plain CONNECT stream is a whole connection to the
 * local app (the agent's HTTP/1.1 bytes, or a raw TCP intercept's), any other
 * stream is one request of an HTTP/2 caller.
 */
export class LocalForwarder {
  readonly #h2: LocalHttp2Forwarder;
  readonly #logger: Logger;
  readonly #portOf: (interceptId: string) => number | undefined;
  readonly #capture: CaptureSwitch;

  /** `capture.current` is read once per stream: set while the dashboard runs, else nothing is observed. */
  constructor(portOf: (interceptId: string) => number | undefined, logger: Logger, capture: CaptureSwitch = { current: undefined }) {
    this.#portOf = portOf;
    this.#capture = capture;
    this.#logger = logger;
    this.#h2 = new LocalHttp2Forwarder(logger);
  }

  handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestEnded: boolean): void {
    const interceptId = String(headers[RELAY_HEADER_INTERCEPT_ID]);
    const port = this.#portOf(interceptId);
    if (port === undefined) {
      // The developer left this intercept a moment ago; the agent falls back.
      respondStreamError(stream, new DetourError('DETOUR_ERR_TUNNEL_OFFLINE', `this developer no longer holds intercept ${interceptId}`), { [RELAY_HEADER_OFFLINE]: interceptId });
      return;
    }
    const capture = this.#capture.current;
    if (headers[':method'] === 'CONNECT' && headers[':protocol'] === undefined) {
      forwardConnection(stream, port, this.#logger, capture?.http1(interceptId));
      return;
    }
    if (LocalHttp2Forwarder.wants(headers)) {
      this.#h2.handle(stream, headers, requestEnded, port, capture?.h2(interceptId, headers));
      return;
    }
    // Only an agent of another detour version sends anything else.
    respondStreamError(stream, new DetourError('DETOUR_ERR_LOCAL_APP_UNREACHABLE', `the agent relayed a ${String(headers[':method'])} stream this daemon does not take; run the same detour version on both sides`));
  }

  /** Drops the HTTP/2 sessions to a port no intercept uses any more. */
  release(port: number): void {
    this.#h2.release(port);
  }

  close(): void {
    this.#h2.close();
  }
}
