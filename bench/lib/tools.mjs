import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Locates the external programs the bench drives and installs the missing ones
 * from Debian's packages. A tool that stays missing is reported, never fatal:
 * the bench measures whatever paths it still can (issue 5, "If it cannot, it
 * says so and still measures the rest").
 */

/** Program name → Debian package that ships it. */
const PACKAGES = { nginx: 'nginx', haproxy: 'haproxy', wrk: 'wrk', h2load: 'nghttp2-client', taskset: 'util-linux', go: 'golang-go' };

/** apt can take minutes on a cold cache; anything longer is a hung mirror. */
const APT_TIMEOUT_MS = 8 * 60_000;

const SEARCH_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

function which(name) {
  // nginx and haproxy live in /usr/sbin, which a non-login PATH may lack.
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH_DIRS];
  return dirs.map((dir) => `${dir}/${name}`).find((path) => existsSync(path)) ?? null;
}

function apt(args, log) {
  // Other sessions on this machine run apt too; flock serialises us with them.
  const res = spawnSync('flock', ['/tmp/apt.lock', 'apt-get', ...args], {
    encoding: 'utf8',
    timeout: APT_TIMEOUT_MS,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (res.status === 0) return true;
  const why = res.error?.message ?? (res.stderr || res.stdout).trim().split('\n').slice(-2).join(' | ');
  log(`apt-get ${args[0]} failed: ${why}`);
  return false;
}

/**
 * Returns `{ nginx, haproxy, wrk, h2load, taskset, go }` as absolute paths or
 * null, plus `missing: { name: reason }` for each tool that could not be had.
 * Tools named in `notInstalled` are used when present but never installed
 * (--quick leaves golang-go, a few hundred MB, to the full run).
 * @param {{ install: boolean, notInstalled?: Record<string, string>, log: (line: string) => void }} opts
 */
export function ensureTools({ install, notInstalled = {}, log }) {
  const found = Object.fromEntries(Object.keys(PACKAGES).map((name) => [name, which(name)]));
  const absent = Object.keys(PACKAGES).filter((name) => !found[name] && !(name in notInstalled));
  const missing = {};
  if (absent.length > 0 && install) {
    const pkgs = [...new Set(absent.map((name) => PACKAGES[name]))];
    log(`installing ${pkgs.join(', ')} with apt-get`);
    const canApt = which('apt-get') && which('flock');
    if (!canApt) log('apt-get or flock not found; cannot install');
    // --no-install-recommends: nginx's recommends pull in a distro site config we never use.
    else if (apt(['update', '-q'], log)) apt(['install', '-y', '-q', '--no-install-recommends', ...pkgs], log);
    for (const name of absent) found[name] = which(name);
  }
  for (const name of Object.keys(PACKAGES)) {
    if (found[name]) continue;
    if (name in notInstalled) missing[name] = `not installed; ${notInstalled[name]}`;
    else missing[name] = install ? `not installed and apt-get could not install ${PACKAGES[name]}` : 'not installed (--no-install)';
  }
  return { ...found, missing };
}
