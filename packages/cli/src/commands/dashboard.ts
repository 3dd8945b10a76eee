import { spawn } from 'node:child_process';
import { DetourError } from '@detour/core';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DashboardInfo, DashboardStart, DetourHome } from '@detour/daemon/client';
import type { Io, OutputFormat } from '../io.js';
import { printJson, printLine } from '../io.js';

export interface DashboardCommandOptions {
  port?: number;
  captureRequests?: number;
  /** As given: `32MiB`, `512k`, a number of bytes. */
  captureBytes?: string;
  open: boolean;
  stop: boolean;
  output: OutputFormat;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };
const MIN_CAPTURE_BYTES = 1024 * 1024;
const MAX_CAPTURE_BYTES = 4 * 1024 ** 3;

/** `--capture-bytes`: a whole number of bytes with an optional binary unit (k, M, G; KiB, MiB, GiB). */
export function parseByteSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = UNITS[match?.[2]?.toLowerCase() ?? 'x'];
  const bytes = match === null || unit === undefined ? NaN : Math.floor(Number(match[1]) * unit);
  if (!Number.isFinite(bytes) || bytes < MIN_CAPTURE_BYTES || bytes > MAX_CAPTURE_BYTES) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `bad --capture-bytes ${JSON.stringify(text)}: give a size from 1MiB to 4GiB, e.g. 32MiB`);
  }
  return bytes;
}

/**
 * Whether a browser can be opened: a desktop session (macOS, or a Linux
 * display) and a person at a terminal. Scripts and tests pipe stdout, so they
 * never get a browser window.
 */
export function canOpenBrowser(io: Io, platform: NodeJS.Platform = process.platform): 'open' | 'xdg-open' | undefined {
  if ((io.out as { isTTY?: boolean }).isTTY !== true) return undefined;
  if (platform === 'darwin') return 'open';
  if (platform === 'linux' && (io.env.DISPLAY !== undefined || io.env.WAYLAND_DISPLAY !== undefined)) return 'xdg-open';
  return undefined;
}

/** `detour dashboard`: starts the daemon's dashboard (or finds it running), prints its URL and opens it on a desktop. */
export async function dashboardCommand(options: DashboardCommandOptions, io: Io, home: DetourHome): Promise<number> {
  const client = new DaemonClient(home);
  try {
    if (options.stop) {
      await client.call('DELETE', DAEMON_PATHS.dashboard);
      if (options.output === 'json') printJson(io, { stopped: true });
      else printLine(io, 'dashboard stopped; requests are no longer captured');
      return 0;
    }
    const request: DashboardStart = {
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.captureRequests === undefined ? {} : { maxExchanges: options.captureRequests }),
      ...(options.captureBytes === undefined ? {} : { maxBytes: parseByteSize(options.captureBytes) }),
    };
    const info = await client.call<DashboardInfo>('POST', DAEMON_PATHS.dashboard, request);
    if (options.output === 'json') {
      printJson(io, info);
      return 0;
    }
    printLine(io, `dashboard ${info.started ? 'started' : 'running'}: ${info.url}`);
    printLine(io, `capturing the last ${info.maxExchanges} requests routed to this laptop (at most ${Math.round(info.maxBytes / 1024 / 1024)} MiB); stop with \`detour dashboard --stop\``);
    const opener = options.open ? canOpenBrowser(io) : undefined;
    if (opener !== undefined) {
      const child = spawn(opener, [info.url], { detached: true, stdio: 'ignore' });
      child.once('error', () => undefined);
      child.unref();
    }
    return 0;
  } finally {
    await client.close();
  }
}
