import { isDetourError } from '@detour/core';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DaemonStatus, DetourHome } from '@detour/daemon/client';
import { describePolicy } from '../disconnect-policy.js';
import { describeMatchers, describeMode, describeState } from '../format.js';
import type { Io, OutputFormat } from '../io.js';
import { formatTable, printJson, printLine } from '../io.js';
import { egressHosts } from '../outbound-env.js';

export async function statusCommand(output: OutputFormat, io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  let status: DaemonStatus;
  try {
    status = await client.call<DaemonStatus>('GET', DAEMON_PATHS.status);
  } catch (err) {
    if (!isDetourError(err) || err.code !== 'DETOUR_ERR_CLI_NOT_CONNECTED') throw err;
    if (output === 'json') printJson(io, { daemon: null, home: home.dir });
    else printLine(io, `Daemon      : not running (home ${home.dir}); run \`detour connect --manager URL --token-file FILE\``);
    return 0;
  } finally {
    await client.close();
  }
  if (output === 'json') {
    printJson(io, status);
    return 0;
  }
  const { session, connection } = status;
  printLine(io, `Daemon      : running (pid ${status.daemon.pid}, v${status.daemon.version}, home ${status.daemon.home})`);
  const { route } = status.manager;
  const version = status.manager.version === undefined ? '' : ` (v${status.manager.version})`;
  if (route.kind === 'direct') printLine(io, `Manager     : ${status.manager.url}${version}, direct`);
  else {
    printLine(io, `Manager     : ${route.namespace}/${route.service}${version}, port-forward through context ${route.context}${route.pod === undefined ? '' : ` to pod ${route.pod}`} (local end ${status.manager.url})`);
    if (route.lastError !== undefined) printLine(io, `              last port-forward error: ${route.lastError}`);
  }
  printLine(io, `Connection  : ${connection.state} since ${new Date(connection.since).toISOString()}${connection.lastError === undefined ? '' : ` (last error: ${connection.lastError})`}`);
  printLine(io, `Outbound    : ${status.outbound.url} (HTTP CONNECT and absolute-form), ${status.outbound.socks}; \`detour run -- COMMAND\` uses it${status.outbound.lastError === undefined ? '' : ` (last error at ${new Date(status.outbound.lastError.at).toISOString()}: ${status.outbound.lastError.message})`}`);
  const egress = status.manager.egress;
  if (egress !== undefined) {
    const extra = egressHosts(egress);
    printLine(io, `              names sent through it: ${egress.mode === 'agents' ? 'registered services' : 'SERVICE, *.svc'}${extra.length === 0 ? '' : `, ${extra.map((h) => (h.startsWith('.') ? `*${h}` : h)).join(', ')}`} (the manager's --egress ${egress.mode})`);
  }
  printLine(io, `User        : ${status.name}`);
  const signed = status.header.signedValue;
  printLine(io, `Header      : ${status.header.name}=${signed?.value ?? status.header.value}${signed === undefined ? '' : ` (signed, valid until ${new Date(signed.expiresAt).toISOString()})`}`);
  if (session !== undefined) {
    printLine(io, `Session     : ${session.id} (tunnel ${session.tunnel})`);
    printLine(io, `Lease       : ${session.leaseMs} ms, renewed; expires at ${new Date(session.expiresAt).toISOString()} unless renewed`);
  } else {
    printLine(io, 'Session     : none (reconnecting)');
  }
  if (status.intercepts.length === 0) {
    printLine(io, 'Intercepts  : none');
    return 0;
  }
  printLine(io, `Intercepts  : ${status.intercepts.length}`);
  printLine(
    io,
    formatTable(
      ['NAME', 'SERVICE', 'MATCHING', 'DESTINATION', 'ON-DISCONNECT', 'STATE'],
      status.intercepts.map(({ spec, intercept, error }) => [
        spec.name,
        spec.service,
        `${describeMatchers(spec)}${describeMode(spec)}`,
        `127.0.0.1:${spec.localPort}`,
        describePolicy(spec),
        describeState(intercept, error),
      ]),
    ).replace(/^/gm, '  '),
  );
  return 0;
}
