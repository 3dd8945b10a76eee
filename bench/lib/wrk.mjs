import { run, lastLines } from './procs.mjs';

/**
 * Runs wrk and parses its report. wrk is used because it is what nginx's and
 * HAProxy's own numbers are usually quoted with, and because one C thread
 * saturates a Node proxy without needing the core the proxy runs on.
 */

/** Settings every path gets, so that only the path differs. */
export const WRK_DEFAULTS = { threads: 1, connections: 50, timeoutS: 5 };

const TIME_UNITS = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
const SIZE_UNITS = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

function ms(text) {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text);
  return m ? Number(m[1]) * TIME_UNITS[m[2]] : NaN;
}

function bytes(text) {
  const m = /^([\d.]+)(B|KB|MB|GB|TB)$/.exec(text);
  return m ? Number(m[1]) * SIZE_UNITS[m[2]] : NaN;
}

/**
 * Parses wrk 4.x output into { requests, rps, p50Ms, p99Ms, mibPerS, errors, non2xx, socketErrors }.
 * `errors` counts non-2xx/3xx answers and socket errors: a proxy that fails
 * fast must not look fast.
 */
export function parseWrk(text) {
  const num = (re) => { const m = re.exec(text); return m ? Number(m[1]) : 0; };
  const requestsLine = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (!requestsLine || !rps) throw new Error(`cannot parse wrk output:\n${text.trim()}`);
  const latency = (pct) => { const m = new RegExp(`^\\s+${pct}%\\s+(\\S+)`, 'm').exec(text); return m ? ms(m[1]) : NaN; };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const seconds = ms(requestsLine[2]) / 1e3;
  return {
    requests: Number(requestsLine[1]),
    rps: Number(rps[1]),
    p50Ms: latency(50),
    p99Ms: latency(99),
    // From the byte total, not "Transfer/sec", which wrk rounds to two decimals.
    mibPerS: bytes(requestsLine[3]) / SIZE_UNITS.MB / seconds,
    errors: num(/Non-2xx or 3xx responses: (\d+)/) + socketErrors,
    // Kept apart in latest.json: a timeout and a 502 call for different fixes.
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: socket ? Object.fromEntries(['connect', 'read', 'write', 'timeout'].map((k, i) => [k, Number(socket[i + 1])])) : null,
  };
}

/**
 * One wrk run against `url`. Resolves the parsed figures; rejects when wrk
 * fails or finishes no request.
 */
export async function runWrk({ wrkPath, url, headers = {}, durationS, cpus, tasksetPath, connections = WRK_DEFAULTS.connections }) {
  const args = ['-t', String(WRK_DEFAULTS.threads), '-c', String(connections), '-d', `${durationS}s`, '--timeout', `${WRK_DEFAULTS.timeoutS}s`, '--latency'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(url);
  // wrk stops itself after durationS; the margin covers start-up and a slow last response.
  const res = await run('wrk', wrkPath, args, { cpus, tasksetPath, timeoutMs: (durationS + WRK_DEFAULTS.timeoutS + 10) * 1e3 });
  if (res.code !== 0) throw new Error(`wrk exited ${res.code}: ${lastLines(res.output)}`);
  const figures = parseWrk(res.stdout);
  if (figures.requests === 0) throw new Error(`wrk completed no request against ${url}`);
  return figures;
}
