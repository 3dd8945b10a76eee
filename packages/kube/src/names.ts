/** Labels, annotations and names injection reads and writes; the Helm chart and the manager use the same. */

/** On a pod, its workload's template or its namespace: `enabled` opts in, `disabled` opts out. */
export const INJECT_LABEL = 'detour.dev/inject';
export const INJECT_ENABLED = 'enabled';
export const INJECT_DISABLED = 'disabled';

/** Set on an injected pod (template); its value is the detour version that injected it. Makes injection idempotent. */
export const INJECTED_ANNOTATION = 'detour.dev/injected';

/**
 * On a Service whose numeric targetPorts were pointed at the agent: the original
 * targetPort of each patched port, keyed by `<port>/<protocol>` (unique within a
 * Service), JSON. `restoreService` puts them back.
 */
export const ORIGINAL_TARGET_PORTS_ANNOTATION = 'detour.dev/original-target-ports';

/** The agent's token, mounted from the chart's Secret as a file (the agent reads `--token-file`). */
export const TOKEN_VOLUME = 'detour-token';
export const TOKEN_MOUNT_PATH = '/var/run/secrets/detour';
export const TOKEN_FILE = `${TOKEN_MOUNT_PATH}/token`;
/** The CA that verifies an https:// manager (`--manager-ca`), from a Secret, when the injector is given one. */
export const MANAGER_CA_VOLUME = 'detour-manager-ca';
export const MANAGER_CA_MOUNT_PATH = '/var/run/secrets/detour-manager-ca';
export const MANAGER_CA_FILE = `${MANAGER_CA_MOUNT_PATH}/ca.crt`;

export const AGENT_CONTAINER_PREFIX = 'detour-agent-';

/**
 * Container port names are IANA service names (RFC 6335 §5.1): at most 15 characters,
 * lowercase letters, digits and single inner hyphens, at least one letter.
 * Kubernetes validates them the same way (IsValidPortName).
 */
export const MAX_PORT_NAME_LENGTH = 15;
const PORT_NAME = /^[a-z0-9](?:-?[a-z0-9])*$/;

export function isValidPortName(name: string): boolean {
  return name.length <= MAX_PORT_NAME_LENGTH && PORT_NAME.test(name) && /[a-z]/.test(name);
}

/**
 * The name the app's port takes when the agent takes its original name: `http` →
 * `detour-app-http`. A name too long for that becomes `da-<name>`, cut to 15
 * characters; a cut that is not a valid name (or collides) makes injection skip
 * the pod with a reason rather than guess.
 */
export function appPortName(original: string): string {
  const full = `detour-app-${original}`;
  if (full.length <= MAX_PORT_NAME_LENGTH) return full;
  return `da-${original}`.slice(0, MAX_PORT_NAME_LENGTH).replace(/-+$/, '');
}

/** The agent's port name for a port a Service targets by number; the Service is patched to it. */
export function agentPortNameForNumber(port: number): string {
  return `detour-${port}`;
}

/**
 * The number a patched Service's `detour-<n>` targetPort stands for, so that pods
 * created after the patch (a rollout, a new replica) are injected like the first ones.
 */
export function numberOfAgentPortName(name: string): number | undefined {
  const match = /^detour-([1-9][0-9]{0,4})$/.exec(name);
  const port = match === null ? NaN : Number(match[1]);
  return port <= 65_535 ? port : undefined;
}

/** The CRD the manager keeps intercepts in (`--state kubernetes`), and which `detour uninstall --intercepts-namespace` empties. */
export const INTERCEPT_RESOURCE = { group: 'detour.dev', version: 'v1alpha1', kind: 'Intercept', plural: 'intercepts' } as const;
