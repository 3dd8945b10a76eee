import type { Service, ServicePort } from './objects.js';
import { ORIGINAL_TARGET_PORTS_ANNOTATION, agentPortNameForNumber } from './names.js';

/** `<port>/<protocol>`: a Service's port number is unique per protocol, its name may be absent. */
function portKey(port: ServicePort): string {
  return `${port.port}/${port.protocol ?? 'TCP'}`;
}

/** What {@link ORIGINAL_TARGET_PORTS_ANNOTATION} holds: the original targetPort per port, null where there was none. */
type Originals = Record<string, number | string | null>;

function readOriginals(service: Service): Originals {
  const text = service.metadata.annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION];
  if (text === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Originals) : {};
  } catch {
    // Someone edited the annotation by hand; nothing can be restored from it.
    return {};
  }
}

/**
 * Points a Service's numeric TCP targetPorts at the injected agents' named ports
 * (`8080` → `detour-8080`, see `agentPortNameForNumber`), recording each original in
 * {@link ORIGINAL_TARGET_PORTS_ANNOTATION}. `targetPorts` limits it to the numbers
 * injection fronted (`NumericTarget.targetPort`); without it every numeric port is
 * patched. Patching a patched Service changes nothing. Returns a new object.
 *
 * Patch the Service only once every pod it selects has the agent: a named
 * targetPort leaves pods without that port name out of the Endpoints.
 */
export function patchServiceForAgent(service: Service, targetPorts?: ReadonlySet<number>): Service {
  const originals = readOriginals(service);
  const out = structuredClone(service);
  let changed = false;
  for (const port of out.spec?.ports ?? []) {
    if ((port.protocol ?? 'TCP') !== 'TCP' || typeof port.targetPort === 'string') continue;
    const target = port.targetPort ?? port.port;
    if (targetPorts !== undefined && !targetPorts.has(target)) continue;
    const key = portKey(port);
    if (!(key in originals)) originals[key] = port.targetPort ?? null;
    port.targetPort = agentPortNameForNumber(target);
    changed = true;
  }
  if (!changed) return out;
  out.metadata = { ...out.metadata, annotations: { ...(out.metadata.annotations ?? {}), [ORIGINAL_TARGET_PORTS_ANNOTATION]: JSON.stringify(originals) } };
  return out;
}

/**
 * Undoes {@link patchServiceForAgent}: every recorded port gets its original
 * targetPort back (or none, where it had none), and the annotation goes. A Service
 * never patched comes back equal. Returns a new object.
 */
export function restoreService(service: Service): Service {
  const out = structuredClone(service);
  const annotations = out.metadata.annotations;
  if (annotations?.[ORIGINAL_TARGET_PORTS_ANNOTATION] === undefined) return out;
  const originals = readOriginals(service);
  for (const port of out.spec?.ports ?? []) {
    const key = portKey(port);
    if (!(key in originals)) continue;
    const original = originals[key];
    if (original === null || original === undefined) delete port.targetPort;
    else port.targetPort = original;
  }
  delete annotations[ORIGINAL_TARGET_PORTS_ANNOTATION];
  if (Object.keys(annotations).length === 0) delete out.metadata.annotations;
  return out;
}
