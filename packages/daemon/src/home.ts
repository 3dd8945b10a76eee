import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where one daemon keeps its socket, log and identity. Several daemons run side
 * by side on one machine by pointing DETOUR_HOME at different folders.
 */
export interface DetourHome {
  dir: string;
  socketPath: string;
  logPath: string;
  clientIdPath: string;
}

export function resolveHome(detourHome: string | undefined): DetourHome {
  const dir = detourHome !== undefined && detourHome !== '' ? detourHome : join(homedir(), '.detour');
  return {
    dir,
    socketPath: join(dir, 'daemon.sock'),
    logPath: join(dir, 'daemon.log'),
    clientIdPath: join(dir, 'client-id'),
  };
}

/** The home's stable random identity, created on first use. */
export function loadClientId(home: DetourHome): string {
  mkdirSync(home.dir, { recursive: true, mode: 0o700 });
  try {
    const id = readFileSync(home.clientIdPath, 'utf8').trim();
    if (/^[A-Za-z0-9._-]{8,128}$/.test(id)) return id;
  } catch {
    // First run: fall through and create it.
  }
  const id = randomUUID();
  writeFileSync(home.clientIdPath, `${id}\n`, { mode: 0o600 });
  return id;
}

/** Lower-cases a user name into the manager's name alphabet. */
export function sanitizeName(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 40);
  return cleaned === '' ? 'developer' : cleaned;
}

/**
 * This developer's value for the default header: their name plus a short hash of
 * the home's identity, so it is stable on one machine and two developers called
 * alike still differ (the manager refuses the rare collision).
 */
export function headerValueFor(name: string, clientId: string): string {
  return `${name}-${createHash('sha256').update(clientId).digest('hex').slice(0, 6)}`;
}
