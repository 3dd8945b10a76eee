import { test } from 'node:test';
import assert from 'node:assert/strict';
import { INJECTED_ANNOTATION, INJECT_DEFAULTS, TOKEN_FILE, TOKEN_VOLUME, injectPodTemplate, patchServiceForAgent, protocolFor, restoreService } from '../src/index.js';
import type { Container, InjectResult, PodTemplate } from '../src/index.js';
import { OPTIONS, assertValidPod, legacyPod, legacyService, service, webPod, webServices } from './fixtures.js';

function injected(result: InjectResult): Extract<InjectResult, { injected: true }> {
  assert.ok(result.injected, result.injected ? '' : result.reason);
  return result;
}

const container = (pod: PodTemplate, name: string): Container => {
  const found = pod.spec.containers.find((c) => c.name === name);
  assert.ok(found, `container ${name}`);
  return found;
};

const flag = (c: Container, name: string): string | undefined => {
  const args = c.args as string[];
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};

test('named targetPorts: the app port is renamed and an agent takes the original name on a new port', () => {
  const before = webPod();
  const snapshot = structuredClone(before);
  const { template, numericTargets } = injected(injectPodTemplate(before, webServices(), OPTIONS));
  assert.deepEqual(before, snapshot, 'the input is not modified');
  assertValidPod(template);

  const app = container(template, 'app');
  assert.deepEqual(app.ports, [
    { name: 'detour-app-http', containerPort: 8080, protocol: 'TCP' },
    { name: 'detour-app-grpc', containerPort: 9090, protocol: 'TCP' },
    { name: 'metrics', containerPort: 9100, protocol: 'TCP' },
  ]);
  const http = container(template, 'detour-agent-http');
  // 15000 is the init container's: the first free number after it.
  assert.deepEqual(http.ports, [{ name: 'http', containerPort: 15001, protocol: 'TCP' }]);
  assert.deepEqual(http.args, [
    'agent', '--service', 'web', '--listen', '15001', '--host', '0.0.0.0', '--app', 'http://127.0.0.1:8080', '--protocol', 'http1',
    '--manager', OPTIONS.managerUrl, '--token-file', TOKEN_FILE,
  ]);
  const grpc = container(template, 'detour-agent-grpc');
  assert.deepEqual(grpc.ports, [{ name: 'grpc', containerPort: 15002, protocol: 'TCP' }]);
  assert.equal(flag(grpc, '--protocol'), 'h2c');
  assert.equal(flag(grpc, '--app'), 'http://127.0.0.1:9090');
  assert.deepEqual(numericTargets, []);

  // No NET_ADMIN, no init container of ours, PodSecurity "restricted".
  for (const agent of [http, grpc]) {
    assert.equal(agent.image, OPTIONS.agentImage);
    assert.deepEqual(agent.securityContext, {
      runAsNonRoot: true, runAsUser: 10_001, runAsGroup: 10_001, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(agent.resources, INJECT_DEFAULTS.resources);
    assert.deepEqual(agent.volumeMounts, [{ name: TOKEN_VOLUME, mountPath: '/var/run/secrets/detour', readOnly: true }]);
  }
  assert.deepEqual(template.spec.initContainers, snapshot.spec.initContainers, 'init containers are untouched');
  assert.deepEqual(container(template, 'logs'), snapshot.spec.containers[1], 'other containers are untouched');
  assert.deepEqual(template.spec.volumes?.map((v) => v.name), ['config', TOKEN_VOLUME]);
  assert.deepEqual(template.spec.volumes?.[1], { name: TOKEN_VOLUME, secret: { secretName: 'detour-token', items: [{ key: 'token', path: 'token' }], defaultMode: 0o444 } });
  assert.deepEqual(template.metadata?.annotations, { 'prometheus.io/scrape': 'true', [INJECTED_ANNOTATION]: '0.1.0' });
  assert.deepEqual(template.metadata?.labels, snapshot.metadata?.labels);
});

test('probes and hooks that named the swapped port name its new name; by number, grpc and exec stay as they were', () => {
  const { template, changes } = injected(injectPodTemplate(webPod(), webServices(), OPTIONS));
  const app = container(template, 'app');
  assert.deepEqual(app.readinessProbe, { httpGet: { path: '/ready', port: 'detour-app-http', scheme: 'HTTP' }, periodSeconds: 5 });
  assert.deepEqual(app.startupProbe, { tcpSocket: { port: 'detour-app-http' }, failureThreshold: 30 });
  assert.deepEqual(app.lifecycle, { preStop: { httpGet: { path: '/drain', port: 'detour-app-http' } } });
  // grpc probes take a number only; the app keeps 9090, so it still reaches the app.
  assert.deepEqual(app.livenessProbe, { grpc: { port: 9090 }, periodSeconds: 10 });
  assert.deepEqual(container(template, 'logs').livenessProbe, { exec: { command: ['/bin/true'] } });
  assert.ok(changes.includes('container app: readinessProbe httpGet port http → detour-app-http'), changes.join('\n'));
  assert.ok(changes.includes('container app: startupProbe tcpSocket port http → detour-app-http'), changes.join('\n'));
});

test('a numeric targetPort keeps the app port, names the agent port detour-<n>, and the Service is patched and restored exactly', () => {
  const svc = legacyService();
  const { template, numericTargets, changes } = injected(injectPodTemplate(legacyPod(), [svc], OPTIONS));
  assertValidPod(template);
  assert.deepEqual(container(template, 'app').ports, [{ containerPort: 8080 }]);
  assert.deepEqual(container(template, 'app').readinessProbe, { httpGet: { path: '/health', port: 8080 } });
  assert.deepEqual(container(template, 'detour-agent-8080').ports, [{ name: 'detour-8080', containerPort: 15000, protocol: 'TCP' }]);
  // The Service port without a targetPort means 9000, which no container declares: the app may still listen there.
  const admin = container(template, 'detour-agent-9000');
  assert.deepEqual(admin.ports, [{ name: 'detour-9000', containerPort: 15001, protocol: 'TCP' }]);
  assert.equal(flag(admin, '--app'), 'http://127.0.0.1:9000');
  assert.equal(flag(admin, '--protocol'), 'auto');
  assert.deepEqual(numericTargets, [
    { service: 'legacy', targetPort: 8080, agentPortName: 'detour-8080' },
    { service: 'legacy', targetPort: 9000, agentPortName: 'detour-9000' },
  ]);
  assert.ok(changes.some((c) => c.startsWith('container detour-agent-8080 added')));

  const patched = patchServiceForAgent(svc, new Set(numericTargets.map((t) => t.targetPort)));
  assert.deepEqual(patched.spec?.ports, [
    { name: 'http', port: 80, targetPort: 'detour-8080', protocol: 'TCP' },
    { name: 'admin', port: 9000, targetPort: 'detour-9000' },
  ]);
  assert.equal(patched.metadata.annotations?.['detour.dev/original-target-ports'], JSON.stringify({ '80/TCP': 8080, '9000/TCP': null }));
  assert.deepEqual(patchServiceForAgent(patched), patched, 'patching twice changes nothing (and keeps the originals)');
  assert.deepEqual(restoreService(patched), svc, 'restored field by field');
  assert.deepEqual(restoreService(svc), svc, 'restoring an unpatched Service changes nothing');
});

test('patchServiceForAgent with a set patches only those numbers, and leaves named and UDP ports alone', () => {
  const svc = service('mixed', { app: 'x' }, [
    { name: 'a', port: 80, targetPort: 8080 },
    { name: 'b', port: 81, targetPort: 8081 },
    { name: 'c', port: 82, targetPort: 'http' },
    { name: 'd', port: 53, targetPort: 53, protocol: 'UDP' },
  ]);
  const patched = patchServiceForAgent(svc, new Set([8081]));
  assert.deepEqual(patched.spec?.ports?.map((p) => p.targetPort), [8080, 'detour-8081', 'http', 53]);
  assert.deepEqual(restoreService(patched), svc);
  assert.deepEqual(patchServiceForAgent(svc, new Set([9999])), svc, 'nothing to patch: no annotation either');
});

test('several containers with targeted ports: one agent per port, numbers allocated in order past every used port', () => {
  const pod: PodTemplate = {
    metadata: { labels: { app: 'pair' } },
    spec: {
      containers: [
        { name: 'api', image: 'a', ports: [{ name: 'http', containerPort: 15000 }] },
        { name: 'admin', image: 'b', ports: [{ name: 'admin', containerPort: 8081, hostPort: 15001 }] },
      ],
    },
  };
  const svc = service('pair', { app: 'pair' }, [
    { name: 'http', port: 80, targetPort: 'http' },
    { name: 'admin', port: 81, targetPort: 'admin' },
  ]);
  const { template } = injected(injectPodTemplate(pod, [svc], OPTIONS));
  assertValidPod(template);
  assert.deepEqual(template.spec.containers.map((c) => c.name), ['api', 'admin', 'detour-agent-http', 'detour-agent-admin']);
  assert.equal(container(template, 'detour-agent-http').ports?.[0]?.containerPort, 15002);
  assert.equal(container(template, 'detour-agent-admin').ports?.[0]?.containerPort, 15003);
  // `detour-app-admin` is 16 characters, one more than a port name may have.
  assert.equal(container(template, 'admin').ports?.[0]?.name, 'da-admin');
});

test('a port targeted by name and by number: one agent, and the numeric Service is told how to go through it', () => {
  const pod = webPod();
  const byNumber = service('web-direct', { app: 'web' }, [{ name: 'x', port: 80, targetPort: 8080 }]);
  const { template, numericTargets, changes } = injected(injectPodTemplate(pod, [...webServices(), byNumber], OPTIONS));
  assertValidPod(template);
  assert.deepEqual(numericTargets, []);
  assert.ok(changes.some((c) => c.includes('Service web-direct targets 8080 by number') && c.includes('set its targetPort to http')), changes.join('\n'));
});

test('injecting an injected pod changes nothing (every replica of a template is covered by the same result)', () => {
  const once = injected(injectPodTemplate(webPod(), webServices(), OPTIONS));
  const twice = injected(injectPodTemplate(once.template, webServices(), OPTIONS));
  assert.deepEqual(twice.template, once.template);
  assert.deepEqual(twice.changes, []);
  assert.deepEqual(injectPodTemplate(webPod(), webServices(), OPTIONS), once, 'deterministic');
});

test('what cannot be injected gives a reason, never a throw', () => {
  const reason = (pod: PodTemplate, services = webServices()) => {
    const result = injectPodTemplate(pod, services, OPTIONS);
    assert.equal(result.injected, false);
    return result.injected ? '' : result.reason;
  };
  const hostNetwork = webPod();
  hostNetwork.spec.hostNetwork = true;
  assert.match(reason(hostNetwork), /hostNetwork/);

  const unselected = webPod();
  unselected.metadata = { labels: { app: 'other' } };
  assert.equal(reason(unselected), 'no Service selects its labels');

  const untargeted = webPod();
  (untargeted.spec.containers[0] as Container).ports = [{ name: 'web', containerPort: 8080 }];
  assert.equal(reason(untargeted), 'no container port is targeted by Service web');

  const taken = webPod();
  (taken.spec.containers[1] as Container).ports = [{ name: 'detour-app-http', containerPort: 7000 }];
  assert.match(reason(taken), /port name detour-app-http .* already taken/);

  const containerTaken = webPod();
  containerTaken.spec.containers.push({ name: 'detour-agent-http', image: 'x' });
  assert.match(reason(containerTaken), /a container is already named detour-agent-http/);

  const volumeTaken = webPod();
  volumeTaken.spec.volumes?.push({ name: TOKEN_VOLUME, emptyDir: {} });
  assert.match(reason(volumeTaken), /volume is already named detour-token/);

  assert.equal(reason({ spec: {} } as unknown as PodTemplate), 'the pod has no spec.containers');
});

test('long port names get a short app name that is still a valid port name', () => {
  const pod: PodTemplate = { metadata: { labels: { app: 'l' } }, spec: { containers: [{ name: 'c', image: 'i', ports: [{ name: 'grpc-public', containerPort: 7000 }] }] } };
  const { template } = injected(injectPodTemplate(pod, [service('l', { app: 'l' }, [{ port: 7000, targetPort: 'grpc-public' }])], OPTIONS));
  assertValidPod(template);
  assert.equal(container(template, 'c').ports?.[0]?.name, 'da-grpc-public');
  assert.equal(flag(container(template, 'detour-agent-grpc-public'), '--protocol'), 'h2c');
});

test('options: resources, pull policy, uid, first port and listen host reach the agent', () => {
  const { template } = injected(
    injectPodTemplate(legacyPod(), [service('legacy', { app: 'legacy' }, [{ port: 80, targetPort: 8080 }])], {
      ...OPTIONS,
      resources: { limits: { cpu: '1' } },
      imagePullPolicy: 'Always',
      agentUid: 1000,
      firstAgentPort: 20_000,
      listenHost: '::',
    }),
  );
  assertValidPod(template);
  const agent = container(template, 'detour-agent-8080');
  assert.deepEqual(agent.resources, { limits: { cpu: '1' } });
  assert.equal(agent.imagePullPolicy, 'Always');
  assert.equal((agent.securityContext as { runAsUser: number }).runAsUser, 1000);
  assert.equal(flag(agent, '--listen'), '20000');
  assert.equal(flag(agent, '--host'), '::');
});

test('protocolFor: appProtocol first, then the Service port name, then the container port name', () => {
  assert.equal(protocolFor({ port: 1, appProtocol: 'kubernetes.io/h2c', name: 'http' }), 'h2c');
  assert.equal(protocolFor({ port: 1, appProtocol: 'grpc' }), 'h2c');
  assert.equal(protocolFor({ port: 1, appProtocol: 'http2' }), 'h2c');
  assert.equal(protocolFor({ port: 1, appProtocol: 'kubernetes.io/http' }), 'http1');
  assert.equal(protocolFor({ port: 1, name: 'http-api' }), 'http1');
  assert.equal(protocolFor({ port: 1, name: 'tcp-db' }), 'tcp');
  assert.equal(protocolFor({ port: 1, name: 'https' }), 'tcp', 'TLS the agent cannot terminate passes through');
  assert.equal(protocolFor({ port: 1, name: 'grpc-web' }), 'auto');
  assert.equal(protocolFor({ port: 1 }, 'grpc'), 'h2c');
  assert.equal(protocolFor({ port: 1, name: 'web' }, 'api'), 'auto');
});

test('a pod created after its Service was patched (rollout, new replica) is injected like the first ones', () => {
  const first = injected(injectPodTemplate(legacyPod(), [legacyService()], OPTIONS));
  const patched = patchServiceForAgent(legacyService(), new Set(first.numericTargets.map((t) => t.targetPort)));
  const later = injected(injectPodTemplate(legacyPod(), [patched], OPTIONS));
  assert.deepEqual(later.template, first.template);
  assert.deepEqual(later.numericTargets, first.numericTargets);
});
