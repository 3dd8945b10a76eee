import { readFileSync } from 'node:fs';

/**
 * Memory of the detour processes, read from /proc/PID/status. VmHWM is the
 * kernel's own high-water mark of resident memory, so a peak between two
 * samples is never missed; VmRSS samples show whether memory stays flat.
 */

/** { rssMiB, hwmMiB } of `pid`, or null when it is gone (or not Linux). */
export function memoryOf(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}

/**
 * Samples VmRSS of each named pid every `intervalMs` until `stop()` is called.
 * `stop()` returns { name: { startMiB, maxMiB, endMiB, hwmMiB } }.
 */
export function sampleRss(pids, intervalMs = 100) {
  const series = Object.fromEntries(Object.keys(pids).map((name) => [name, []]));
  const tick = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const m = memoryOf(pid);
      if (m) series[name].push(m.rssMiB);
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    stop() {
      tick();
      clearInterval(timer);
      return Object.fromEntries(Object.entries(series).map(([name, xs]) => [name, {
        startMiB: xs[0] ?? null,
        maxMiB: xs.length ? Math.max(...xs) : null,
        endMiB: xs.at(-1) ?? null,
        hwmMiB: memoryOf(pids[name])?.hwmMiB ?? null,
      }]));
    },
  };
}
