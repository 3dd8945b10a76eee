import { DEFAULT_PREVIEW_TTL_MS } from '@detour/protocol';
import type { Intercept, InterceptMode, Mechanism, SignedValue } from '@detour/protocol';
import { DetourError } from '@detour/core';
import { DAEMON_PATHS, DaemonClient } from '@detour/daemon/client';
import type { DaemonStatus, DetourHome, InterceptAsk } from '@detour/daemon/client';
import type { DisconnectPolicy } from '../disconnect-policy.js';
import { describePolicy } from '../disconnect-policy.js';
import { fallthroughOf } from '../fallthrough-flags.js';
import { describeMatchers, headerToSend } from '../format.js';
import { AUTO_HEADER, autoHeaderMatcher, parseHeaderSpec, parsePathMatchers } from '../header-spec.js';
import type { Io, OutputFormat } from '../io.js';
import { printError, printJson, printLine, printProgress } from '../io.js';
import { outboundEnvironment } from '../outbound-env.js';
import { writeServiceEnvironment } from '../intercept-environment.js';
import { runUserCommand } from '../run-command.js';
import type { CommandOutcome } from '../run-command.js';
import type { KubeconfigLocation } from '../kube-access.js';
import { createPreview, previewLines } from './preview.js';

export interface InterceptOptions {
  service: string;
  port: number;
  httpHeader: string[];
  httpPathEqual: string[];
  httpPathPrefix: string[];
  httpPathRegex: string[];
  global: boolean;
  name?: string;
  onDisconnect: DisconnectPolicy;
  mechanism: Mechanism;
  mode: InterceptMode;
  /** `--fallthrough-status`, parsed. */
  fallthroughStatus?: number[];
  /** `--fallthrough-body-limit`, in bytes. */
  fallthroughBodyLimit?: number;
  /** Also create a preview (default entry and expiry). */
  previewUrl: boolean;
  output: OutputFormat;
  command: string[];
  /** Write the service's app environment here, `.env` format (see intercept-environment.ts for where it comes from). */
  envFile?: string;
  /** The same, as one JSON object. */
  envJson?: string;
  /** Kubernetes context and namespace for --env-file/--env-json (default: the kubeconfig's current ones). */
  context?: string;
  namespace?: string;
  /** Where the kubeconfig is, as the entry point read it from the environment. */
  kubeconfigLocation: KubeconfigLocation;
}


export async function interceptCommand(options: InterceptOptions, io: Io, home: DetourHome): Promise<CommandOutcome> {
  const hasMatchers = options.httpHeader.length + options.httpPathEqual.length + options.httpPathPrefix.length + options.httpPathRegex.length > 0;
  if (options.global && hasMatchers) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--global takes all traffic of the service; drop it, or drop the --http-header and path flags');
  }
  if (options.mechanism === 'tcp' && !options.global) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--mechanism tcp tunnels whole connections of a raw TCP port, so it needs --global (and no --http-header or path flags)');
  }
  const fallthrough = fallthroughOf(options.fallthroughStatus, options.fallthroughBodyLimit);
  if (options.mode === 'wiretap') refuseForWiretap(options, fallthrough !== undefined);
  if (fallthrough !== undefined && options.mechanism === 'tcp') {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--fallthrough-status needs HTTP answers to read; --mechanism tcp tunnels raw connections, so drop one of them');
  }
  // With no matcher at all the intercept is personal: a shared environment must never be taken over by accident.
  const headers = (options.global || hasMatchers ? options.httpHeader : [AUTO_HEADER]).map(parseHeaderSpec);
  const paths = parsePathMatchers(options.httpPathEqual, options.httpPathPrefix, options.httpPathRegex);
  const client = new DaemonClient(home);
  let intercept: Intercept;
  let signedValue: SignedValue | undefined;
  let status: DaemonStatus;
  let appEnv: Record<string, string> = {};
  try {
    status = await client.call<DaemonStatus>('GET', DAEMON_PATHS.status);
    // Read before the intercept exists: an environment that cannot be found leaves nothing behind.
    if (options.envFile !== undefined || options.envJson !== undefined) {
      appEnv = await writeServiceEnvironment(
        {
          service: options.service,
          ...(options.envFile === undefined ? {} : { envFile: options.envFile }),
          ...(options.envJson === undefined ? {} : { envJson: options.envJson }),
          kube: { ...(options.context === undefined ? {} : { context: options.context }), ...(options.namespace === undefined ? {} : { namespace: options.namespace }) },
          kubeconfigLocation: options.kubeconfigLocation,
        },
        status,
        io,
        home,
      );
    }
    const ask: InterceptAsk = {
      name: options.name ?? options.service,
      service: options.service,
      headers: headers.map((matcher) => (matcher === AUTO_HEADER ? autoHeaderMatcher(status.header.value) : matcher)),
      paths,
      global: options.global,
      onDisconnect: options.onDisconnect.onDisconnect,
      holdMs: options.onDisconnect.holdMs,
      mechanism: options.mechanism,
      ...(fallthrough === undefined ? {} : { fallthrough }),
      ...(options.mode === 'wiretap' ? { mode: options.mode } : {}),
      localPort: options.port,
    };
    if (options.output === 'human') printProgress(io, `Intercepting ${options.service}: waiting for every agent to acknowledge …`);
    intercept = await client.call<Intercept>('POST', DAEMON_PATHS.intercepts, ask);
    signedValue = status.header.signedValue;
  } finally {
    await client.close();
  }
  const header = headerToSend(intercept, signedValue);
  const signed = intercept.headers.some((h) => h.signed === true) ? signedValue : undefined;
  const preview = options.previewUrl ? await createPreview(home, { intercept: intercept.name, ttlMs: DEFAULT_PREVIEW_TTL_MS }) : undefined;
  if (options.output === 'json') {
    printJson(io, { ...intercept, header: header ?? null, ...(preview === undefined ? {} : { preview }) });
  } else {
    printLine(io, `Using intercept ${intercept.name} on ${intercept.service}`);
    printLine(io, `   Intercept id   : ${intercept.id}`);
    printLine(io, `   State          : ${intercept.online ? 'ACTIVE' : 'OFFLINE'}`);
    printLine(io, `   Destination    : 127.0.0.1:${intercept.localPort}`);
    printLine(io, `   Intercepting   : ${describeMatchers(intercept)}`);
    if (intercept.mode === 'wiretap') printLine(io, '   Mode           : wiretap (the app answers callers; you get a copy, your answer is discarded)');
    else printLine(io, `   On disconnect  : ${describePolicy(intercept)}`);
    if (intercept.fallthrough !== undefined) {
      printLine(io, `   Falls through  : ${intercept.fallthrough.statuses.join(', ')} → the app (request bodies up to ${intercept.fallthrough.bodyLimitBytes} bytes)`);
    }
    if (header !== undefined) printLine(io, `   Send the header: ${header.replace('=', ': ')}`);
    if (signed !== undefined) printLine(io, `   Signed value   : valid until ${new Date(signed.expiresAt).toISOString()}; send it exactly as shown (the bare name goes to the app)`);
    if (preview !== undefined) for (const line of previewLines(preview, '   ')) printLine(io, line);
  }
  if (options.command.length === 0) return { code: 0 };
  return runWhileIntercepting(options.command, intercept, { ...outboundEnvironment(status, { ...io.env, ...appEnv }), DETOUR_INTERCEPT_ID: intercept.id, DETOUR_HEADER: header ?? '' }, io, home);
}

/** `--mode wiretap` only ever copies: flags that take or answer traffic make no sense with it. */
function refuseForWiretap(options: InterceptOptions, fallthrough: boolean): void {
  if (options.global) {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--mode wiretap copies matched requests and never takes a service, so it cannot be --global; use --http-header or a path flag');
  }
  if (options.onDisconnect.onDisconnect === 'fail') {
    throw new DetourError('DETOUR_ERR_CLI_USAGE', '--mode wiretap never changes what callers get, so --on-disconnect fail cannot apply; drop --on-disconnect');
  }
  if (fallthrough) throw new DetourError('DETOUR_ERR_CLI_USAGE', '--mode wiretap discards your answers, so --fallthrough-status cannot apply; drop it');
}

/** Runs the user's command; the intercept lives exactly as long as it does. */
async function runWhileIntercepting(command: string[], intercept: Intercept, env: NodeJS.ProcessEnv, io: Io, home: DetourHome): Promise<CommandOutcome> {
  try {
    return await runUserCommand(command, env);
  } finally {
    const client = new DaemonClient(home);
    try {
      await client.call('DELETE', DAEMON_PATHS.intercept(intercept.name));
      printError(io, `Left intercept ${intercept.name}`);
    } catch (err) {
      printError(io, `could not leave intercept ${intercept.name}: ${(err as Error).message}`);
    } finally {
      await client.close();
    }
  }
}
