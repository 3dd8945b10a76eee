import type { TraceRequest, TraceResult } from '@detour/protocol';
import { DEFAULT_HEADER_NAME, HTTP_TOKEN } from '@detour/protocol';
import { DetourError } from '@detour/core';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DetourHome } from '@detour/daemon/client';
import { EXIT_CODES } from '../exit-codes.js';
import type { Io, OutputFormat } from '../io.js';
import { printJson, printLine, printProgress } from '../io.js';

export interface TraceCommandOptions {
  service: string;
  path: string;
  /** `NAME=VALUE`, or `NAME` (a probe value is generated); default: the default header with a probe value. */
  header?: string;
  output: OutputFormat;
}

const VALUE = /^[\x21-\x7e]{1,256}$/;

/** Parses `--header`: `NAME=VALUE` sends that value (e.g. your own, to trace through your intercept), `NAME` a fresh probe value. */
export function parseTraceHeader(spec: string | undefined): Pick<TraceRequest, 'header' | 'value'> {
  if (spec === undefined) return { header: DEFAULT_HEADER_NAME };
  const eq = spec.indexOf('=');
  const name = eq === -1 ? spec : spec.slice(0, eq);
  if (!HTTP_TOKEN.test(name)) throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --header ${JSON.stringify(spec)}: use NAME=VALUE or NAME, where NAME is a header name`);
  if (eq === -1) return { header: name.toLowerCase() };
  const value = spec.slice(eq + 1);
  if (!VALUE.test(value)) throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --header ${JSON.stringify(spec)}: the value must be 1–256 visible ASCII characters`);
  return { header: name.toLowerCase(), value };
}

/** The one-line verdict, e.g. `web ✔ → api ✔ → quote ✘ (header dropped by api)`. */
export function describeTrace(result: TraceResult): string {
  const chain = result.hops.map((hop) => `${hop.service} ${hop.headerSeen ? '✔' : '✘'}`).join(' → ');
  const lost = result.hops.find((hop) => !hop.headerSeen);
  switch (result.outcome) {
    case 'dropped':
      return `${chain} (header dropped ${lost?.droppedBy === undefined ? `before ${lost?.service ?? 'a hop'}` : `by ${lost.droppedBy}`})`;
    case 'propagated':
      return `${chain} (header propagated through ${result.hops.length} services)`;
    case 'first-hop-only':
      return `${chain} (no call from ${result.service} to another service was seen: cannot tell whether it calls anything)`;
  }
}

/**
 * `detour trace SERVICE`: asks the manager (through the daemon) to run a probe and prints where the header went.
 * Exits EXIT_CODES.headerDropped (3) when a hop did not get the header, in either output format, so CI can gate on it.
 */
export async function traceCommand(options: TraceCommandOptions, io: Io, home: DetourHome): Promise<number> {
  if (!options.path.startsWith('/')) throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --path ${JSON.stringify(options.path)}: a path starts with "/"`);
  const request: TraceRequest = { service: options.service, path: options.path, ...parseTraceHeader(options.header) };
  printProgress(io, `… sending a probe through ${options.service} (up to 10 s)`);
  const client = new DaemonClient(home);
  let result: TraceResult;
  try {
    result = await client.call<TraceResult>('POST', DAEMON_PATHS.traces, request);
  } finally {
    await client.close();
  }
  const code = result.outcome === 'dropped' ? EXIT_CODES.headerDropped : EXIT_CODES.ok;
  if (options.output === 'json') {
    printJson(io, result);
    return code;
  }
  printLine(io, describeTrace(result));
  printLine(io, `probe: GET ${result.path} with ${result.header}: ${result.value}, answered ${result.probeStatus}`);
  return code;
}
