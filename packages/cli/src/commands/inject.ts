import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { DetourError } from '@detour/core';
import { managerEndpoint } from '@detour/transport';
import { injectManifests } from '@detour/kube';
import type { InjectOptions, Service } from '@detour/kube';
import type { Io } from '../io.js';
import { printError } from '../io.js';

export interface InjectCommandOptions {
  file: string;
  serviceFile: string[];
  agentImage: string;
  manager: string;
  tokenSecret: string;
  tokenSecretKey: string;
  /** The Secret (key `ca.crt`) with the CA that verifies an https:// manager, mounted into the agents. */
  managerCaSecret?: string;
  insecure: boolean;
}

async function readInput(io: Io, file: string): Promise<string> {
  if (file !== '-') {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new DetourError('DETOUR_ERR_CONFIG_INVALID', `-f ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }
  if (io.in === undefined) throw new DetourError('DETOUR_ERR_CLI_USAGE', '-f - reads standard input, and there is none here');
  const chunks: Buffer[] = [];
  for await (const chunk of io.in as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

interface Parsed {
  /** The documents' objects, empty documents left out. */
  objects: unknown[];
  /** Each object's own text, so an object injection does not change is printed as it was, comments and all. */
  texts: string[];
  json: boolean;
}

/** YAML or JSON (JSON is YAML 1.2), one document or several. */
function parse(text: string, source: string): Parsed {
  const json = /^\s*[[{]/.test(text);
  const objects: unknown[] = [];
  const texts: string[] = [];
  for (const doc of parseAllDocuments(text)) {
    const error = doc.errors[0];
    if (error !== undefined) {
      const at = error.linePos?.[0];
      throw new DetourError('DETOUR_ERR_INJECT_BAD_MANIFEST', `${source}${at === undefined ? '' : `:${at.line}:${at.col}`}: ${error.message.split('\n')[0] ?? ''}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new DetourError('DETOUR_ERR_INJECT_BAD_MANIFEST', `${source}: a document is not a Kubernetes object (a mapping with apiVersion and kind)`);
    objects.push(value);
    // A document after the first prints its own `---`; the output puts one between documents itself.
    texts.push(doc.toString().replace(/^---\n/, ''));
  }
  return { objects, texts, json };
}

/**
 * `detour inject -f FILE|-`: prints the manifests with the agent injected, for
 * people who commit what they deploy (like `linkerd inject`). stdout holds only
 * the manifests; what changed and what could not be injected go to stderr. A
 * workload it cannot inject is printed unchanged, named on one line with the
 * reason, and the command ends with exit 2.
 */
export async function injectCommand(options: InjectCommandOptions, io: Io, version: string): Promise<number> {
  const source = options.file === '-' ? '<stdin>' : options.file;
  const input = parse(await readInput(io, options.file), source);
  const services: Service[] = [];
  for (const file of options.serviceFile) {
    const parsed = parse(await readInput(io, file), file);
    const flat = (objects: unknown[]): unknown[] => objects.flatMap((o) => ((o as { kind?: string }).kind === 'List' ? flat(((o as { items?: unknown[] }).items ?? [])) : [o]));
    services.push(...(flat(parsed.objects).filter((o) => (o as { kind?: string }).kind === 'Service') as Service[]));
  }
  // The agents would refuse a cleartext token off loopback at start: say so now, with the same words.
  const manager = managerEndpoint(options.manager, { insecure: options.insecure });
  if (options.managerCaSecret !== undefined && manager.tls === undefined) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', `--manager-ca-secret verifies an https:// manager, but --manager is ${manager.origin}`);
  }
  const injectOptions: InjectOptions = {
    agentImage: options.agentImage,
    managerUrl: manager.origin,
    tokenSecret: { name: options.tokenSecret, key: options.tokenSecretKey },
    version,
    ...(options.managerCaSecret === undefined ? {} : { managerCaSecret: { name: options.managerCaSecret, key: 'ca.crt' } }),
    ...(manager.cleartextWarning === undefined ? {} : { insecure: true }),
  };
  const result = injectManifests(input.objects, services, injectOptions);

  if (input.json) {
    const value = result.objects.length === 1 ? result.objects[0] : { apiVersion: 'v1', kind: 'List', items: result.objects };
    io.out.write(`${JSON.stringify(value, null, 2)}\n`);
  } else {
    const docs = result.objects.map((object, i) => (isDeepStrictEqual(object, input.objects[i]) ? (input.texts[i] ?? '') : stringify(object)));
    io.out.write(docs.map((d) => d.replace(/\n*$/, '\n')).join('---\n'));
  }
  for (const change of result.changes) printError(io, `injected ${change}`);
  for (const failure of result.failures) printError(io, `detour: ${failure.object}: not injected: ${failure.reason}`);
  return result.failures.length === 0 ? 0 : 2;
}
