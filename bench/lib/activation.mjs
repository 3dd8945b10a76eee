import { waitForHttp } from './http.mjs';
import { median } from './stats.mjs';
import { HEADER_NAME } from './detour.mjs';

/**
 * How fast a new intercept takes effect. Two kinds of probe run:
 * - from the moment `detour intercept` starts, to see when the rule really
 *   went live on each agent (it can be before the command returns);
 * - from the moment it returns, fresh requests, to time what issue 5 targets:
 *   "from `detour intercept` returning to the first routed request".
 * The fan-out case does the same against every agent of a second service.
 */

/** Spacing of the probes after the command returned: fine enough for a 100 ms target. */
const PROBE_INTERVAL_MS = 5;
/**
 * Spacing of the probes that run while the command runs. Coarser: ten agents
 * probed every 5 ms would take CPU from the manager and daemon on the server
 * CPU, slowing the very command being timed.
 */
const LIVE_PROBE_INTERVAL_MS = 50;
const ROUTE_TIMEOUT_MS = 10_000;

function probeUntilRouted(agentUrl, headerValue, intervalMs) {
  return waitForHttp(`${agentUrl}/`, {
    headers: { [HEADER_NAME]: headerValue },
    accept: (res) => res.status === 200 && res.headers['x-served-by'] === 'laptop',
    timeoutMs: ROUTE_TIMEOUT_MS,
    intervalMs,
  }).then(() => performance.now());
}

/** Times one `detour intercept` while probing `agentUrls`; leaves the intercept in place. */
async function timeIntercept(daemon, service, agentUrls, laptopPort, headerValue) {
  const t0 = performance.now();
  const live = Promise.all(agentUrls.map((url) => probeUntilRouted(url, headerValue, LIVE_PROBE_INTERVAL_MS)));
  const { intercept } = await daemon.intercept(service, laptopPort, headerValue);
  const returned = performance.now();
  const afterReturn = Math.max(...(await Promise.all(agentUrls.map((url) => probeUntilRouted(url, headerValue, PROBE_INTERVAL_MS)))));
  const times = await live;
  return { name: intercept.name ?? service, t0, returned, afterReturn, first: Math.min(...times), last: Math.max(...times) };
}

/**
 * @param {object} o
 * @param {string} o.interceptName the bench developer's existing intercept on `service`, re-created each run
 */
export async function measureActivation({ daemon, service, interceptName, agentUrl, fanService, fanUrls, laptopPort, headerValue, runs, log }) {
  const single = [];
  const fanout = [];
  let name = interceptName;
  for (let run = 0; run < runs; run++) {
    await daemon.leave(name);
    // Routing must be off again before timing, or a stale rule would look instant.
    await waitForHttp(`${agentUrl}/`, { headers: { [HEADER_NAME]: headerValue }, accept: (res) => res.headers['x-served-by'] === 'app', timeoutMs: ROUTE_TIMEOUT_MS });
    const s = await timeIntercept(daemon, service, [agentUrl], laptopPort, headerValue);
    name = s.name;
    single.push({ cliMs: s.returned - s.t0, returnToFirstRoutedMs: s.afterReturn - s.returned, liveBeforeReturnMs: s.returned - s.first });

    const f = await timeIntercept(daemon, fanService, fanUrls, laptopPort, headerValue);
    fanout.push({ cliMs: f.returned - f.t0, startToAllRoutedMs: f.last - f.t0, returnToAllRoutedMs: f.afterReturn - f.returned, spreadMs: f.last - f.first });
    await daemon.leave(f.name);
    log(`activation run ${run + 1}/${runs}: returned → routed ${(s.afterReturn - s.returned).toFixed(1)} ms (live ${(s.returned - s.first).toFixed(0)} ms before return, command took ${(s.returned - s.t0).toFixed(0)} ms); `
      + `all ${fanUrls.length} agents routing ${(f.last - f.t0).toFixed(0)} ms after start`);
  }
  const med = (xs, key) => median(xs.map((x) => x[key]));
  return {
    agents: fanUrls.length,
    interceptName: name,
    returnToFirstRoutedMs: med(single, 'returnToFirstRoutedMs'),
    liveBeforeReturnMs: med(single, 'liveBeforeReturnMs'),
    cliMs: med(single, 'cliMs'),
    fanout: {
      cliMs: med(fanout, 'cliMs'),
      startToAllRoutedMs: med(fanout, 'startToAllRoutedMs'),
      returnToAllRoutedMs: med(fanout, 'returnToAllRoutedMs'),
      spreadMs: med(fanout, 'spreadMs'),
    },
    samples: { single, fanout },
  };
}
