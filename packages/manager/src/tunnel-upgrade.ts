import http from 'node:http';
import type { Socket } from 'node:net';
import { API_PATHS, TUNNEL_UPGRADE_TOKEN } from '@detour/protocol';
import { DetourError, isDetourError } from '@detour/core';
import type { AgentHub } from './agent-hub.js';
import { headerOf } from './api-exchange.js';
import type { AuthGate } from './route-auth.js';
import type { ManagerState } from './state.js';
import type { Tunnels } from './tunnels.js';

/**
 * `GET /v1/tunnel` with `Upgrade: detour-tunnel` (RFC 9110 §7.8): the daemon's
 * HTTP/1.1 connection becomes its session's tunnel, on which the manager is the
 * HTTP/2 client ({@link Tunnels}). A refusal is an HTTP/1.1 answer with a JSON
 * body, written on the raw socket since no response object exists for an upgrade.
 */
export function createTunnelUpgrade(options: { gate: AuthGate; state: ManagerState; hub: AgentHub; tunnels: Tunnels }) {
  const { gate, state, hub, tunnels } = options;
  return (req: http.IncomingMessage, socket: Socket, head: Buffer): void => {
    try {
      if (new URL(req.url ?? '/', 'http://manager').pathname !== API_PATHS.tunnel || req.headers.upgrade?.toLowerCase() !== TUNNEL_UPGRADE_TOKEN) {
        throw new DetourError('DETOUR_ERR_API_NOT_FOUND', `only ${API_PATHS.tunnel} with "Upgrade: ${TUNNEL_UPGRADE_TOKEN}" can be upgraded`);
      }
      const { session } = gate.authorize('caller-session', 'develop', { header: (name) => headerOf(req.headers, name) });
      if (head.length > 0) socket.unshift(head);
      // HTTP/2 takes the socket only once the 101 is written: over TLS (--tls-cert) a session started while
      // that write is still queued in the TLS layer trips node's http2 write-in-progress assertion and aborts.
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${TUNNEL_UPGRADE_TOKEN}\r\n\r\n`, (err) => {
        if (err !== undefined && err !== null) {
          socket.destroy();
          return;
        }
        tunnels.attach(session.id, socket);
        hub.push(state.setTunnel(session.id, true));
      });
    } catch (err) {
      refuse(socket, err);
    }
  };
}

function refuse(socket: Socket, err: unknown): void {
  const error = isDetourError(err) ? err : new DetourError('DETOUR_ERR_INTERNAL_BUG', 'tunnel setup failed', { cause: err });
  const body = JSON.stringify(error.toBody());
  socket.end(`HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
