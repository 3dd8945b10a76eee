import type { Container, LifecycleHandler, PodTemplate, Probe } from './objects.js';
import { AGENT_CONTAINER_PREFIX, INJECTED_ANNOTATION, TOKEN_VOLUME, appPortName } from './names.js';

/**
 * The inverse of `injectPodTemplate`, for `detour uninstall` on workloads whose
 * template was injected (`detour inject` output committed to Git, then applied):
 * the agent containers and the token volume go, each port an agent took by name is
 * given back to the app container (and the probes and hooks that named it), and the
 * injected annotation goes. The agent container holds the original name (it took it
 * over), so the rename is undone from the pod itself, even where `appPortName` cut a
 * long name. A template that was never injected comes back equal. Returns a new object.
 */
export function uninjectPodTemplate(template: PodTemplate): { template: PodTemplate; changes: string[] } {
  const out = structuredClone(template);
  const changes: string[] = [];
  if (out.metadata?.annotations?.[INJECTED_ANNOTATION] === undefined) return { template: out, changes };
  const agents = out.spec.containers.filter((c) => c.name.startsWith(AGENT_CONTAINER_PREFIX));
  out.spec.containers = out.spec.containers.filter((c) => !c.name.startsWith(AGENT_CONTAINER_PREFIX));
  for (const agent of agents) {
    changes.push(`container ${agent.name} removed`);
    for (const port of agent.ports ?? []) {
      if (port.name === undefined) continue;
      const renamed = appPortName(port.name);
      for (const container of out.spec.containers) {
        const appPort = (container.ports ?? []).find((p) => p.name === renamed);
        if (appPort === undefined) continue;
        appPort.name = port.name;
        changes.push(`container ${container.name}: port ${renamed} (${appPort.containerPort}) renamed ${port.name}`);
        restorePortReferences(container, renamed, port.name);
      }
    }
  }
  const volumes = (out.spec.volumes ?? []).filter((v) => v.name !== TOKEN_VOLUME);
  if (volumes.length !== (out.spec.volumes ?? []).length) changes.push(`volume ${TOKEN_VOLUME} removed`);
  // Injection created the list when the pod had none.
  if (volumes.length === 0) delete out.spec.volumes;
  else out.spec.volumes = volumes;
  const annotations = out.metadata.annotations;
  delete annotations[INJECTED_ANNOTATION];
  if (Object.keys(annotations).length === 0) delete out.metadata.annotations;
  return { template: out, changes };
}

function restorePortReferences(container: Container, from: string, to: string): void {
  const handler = (h: Probe | LifecycleHandler | undefined) => {
    if (h?.httpGet?.port === from) h.httpGet.port = to;
    if (h?.tcpSocket?.port === from) h.tcpSocket.port = to;
  };
  for (const h of [container.readinessProbe, container.livenessProbe, container.startupProbe, container.lifecycle?.postStart, container.lifecycle?.preStop]) handler(h);
}
