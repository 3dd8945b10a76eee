import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { AGENT_PROTOCOLS, DEFAULT_HEADER_NAME, DEFAULT_PREVIEW_TTL_MS } from '@detour/protocol';
import type { PreviewEntry } from '@detour/protocol';
import { LogRing, createLogger, isUserError } from '@detour/core';
// Commands are imported inside their actions, so each process loads only its own
// command and that command's dependencies: the agent sits in front of every request
// and its idle memory is a published target, it must not carry the manager, daemon,
// demo or trace code (and zod, undici, … with them). Types cost nothing at run time.
import type { AgentCommandOptions } from './commands/agent.js';
import type { ConnectOptions } from './commands/connect.js';
import type { DaemonCommandOptions } from './commands/daemon.js';
import type { InjectCommandOptions } from './commands/inject.js';
import type { ManagerCommandOptions } from './commands/manager.js';
import type { GatewayCommandOptions } from './commands/gateway.js';
import type { InterceptOptions } from './commands/intercept.js';
import type { CommandOutcome } from './run-command.js';
import { parseBodyLimit, parseFallthroughStatuses } from './fallthrough-flags.js';
import { EXIT_CODES } from './exit-codes.js';
import type { TraceCommandOptions } from './commands/trace.js';
import type { DashboardCommandOptions } from './commands/dashboard.js';
import type { UninstallCommandOptions } from './commands/uninstall.js';
// `home`, not `client`: the client loads undici (~15 MiB of RSS), which the agent and the manager never use.
import { resolveHome, sanitizeName } from '@detour/daemon/home';
import { parseDisconnectPolicy } from './disconnect-policy.js';
import { parseEntry, parseExpires } from './preview-flags.js';
import type { Io, OutputFormat } from './io.js';
import type { ServerLogging } from './server-logging.js';
import { printError } from './io.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
export const BIN_PATH = fileURLToPath(new URL('../../bin/detour.js', import.meta.url));

/** Defaults, with their units, in one place. */
export const CLI_DEFAULTS = {
  host: '127.0.0.1',
  leaseMs: 15_000,
  connectTimeoutMs: 15_000,
  onDisconnect: 'fallback',
} as const;

/** Environment variables detour reads, all here (STYLE: only entry points read process.env). */
export const ENVIRONMENT = {
  home: 'DETOUR_HOME',
  logLevel: 'DETOUR_LOG_LEVEL',
  /** `detour manager --state kubernetes`: a kubeconfig file when --kubeconfig is not given. */
  kubeconfig: 'KUBECONFIG',
  /** Where ~/.kube/config is, for `connect` and `intercept --env-file` through the kubeconfig. */
  homeDir: 'HOME',
  /** Set by Kubernetes in every pod: the manager may use its ServiceAccount. */
  kubernetesServiceHost: 'KUBERNETES_SERVICE_HOST',
} as const;

function integer(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['human', 'json']).default('human');
}

/** Messages may quote a child's stderr or add a suggestion on a line of its own; the one line stays one line. */
function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, ' ');
}

/** Commander's own width when the text does not go to a terminal. */
const HELP_COLUMNS = 80;

function terminalColumns(stream: Io['out']): number {
  const tty = stream as { isTTY?: boolean; columns?: number };
  return tty.isTTY === true && tty.columns !== undefined ? tty.columns : HELP_COLUMNS;
}

/**
 * The OS user name for `connect --name`. Commander evaluates it for every command, and a
 * process whose UID has no passwd entry (a container run with an arbitrary UID, as clusters
 * assign) makes os.userInfo() throw: that must not stop `detour manager` or `detour agent`.
 */
function defaultName(): string {
  try {
    return sanitizeName(userInfo().username);
  } catch {
    return 'user';
  }
}


/**
 * Ends a failed command the way wrangler's `handle-errors.ts` does: a code the user can fix
 * (ERROR_CODES[code].userError) prints its message on one line, since it already says what
 * was wrong and what to do; anything else is a bug in detour and prints the stack with every
 * `cause` (util.inspect follows the chain and shows `code` and `details`).
 */
function reportFailure(io: Io, err: unknown): number {
  if (isUserError(err)) {
    printError(io, `detour: ${oneLine(err.message)}`);
    return EXIT_CODES.userError;
  }
  printError(io, `detour: internal error, please report it with the text below:\n${inspect(err, { depth: 6 })}`);
  return EXIT_CODES.bug;
}

/**
 * Runs the CLI. Returns how the process should end; only the bin calls
 * process.exit. A user's mistake prints one line and exits 2; a bug prints its stack and exits 1.
 * Everything is written to `io`, so tests run it in-process and read what a terminal would show.
 */
export async function main(argv: string[], io: Io, signal: AbortSignal): Promise<CommandOutcome> {
  const home = resolveHome(io.env[ENVIRONMENT.home]);
  const logLevel = io.env[ENVIRONMENT.logLevel] ?? 'info';
  // Servers log JSON to stderr; stdout stays for the lines people and scripts read. Their most
  // recent lines are also kept in memory, for `detour gather-logs` to collect through the manager.
  const serverLogging = (component: string): ServerLogging => {
    const ring = new LogRing();
    return { logger: createLogger(component, { level: logLevel, destination: pino.destination(2), ring }), ring };
  };
  /** `$KUBECONFIG`, else ~/.kube/config: for `connect` and `intercept --env-file` through the kubeconfig. */
  const kubeconfigLocation = () => {
    const kubeconfig = io.env[ENVIRONMENT.kubeconfig];
    return { ...(kubeconfig === undefined || kubeconfig === '' ? {} : { kubeconfig }), homeDir: io.env[ENVIRONMENT.homeDir] ?? homedir() };
  };
  let outcome: CommandOutcome = { code: 0 };
  const done = (code: number) => {
    outcome = { code };
  };

  const program = new Command('detour')
    .description('Send only your requests in a shared environment to the service on your laptop.')
    .version(VERSION)
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      writeOut: (text) => io.out.write(text),
      writeErr: (text) => io.err.write(text),
      // Help wraps to the terminal the text goes to (80 columns off a terminal), not to whatever process.stdout is.
      getOutHelpWidth: () => terminalColumns(io.out),
      getErrHelpWidth: () => terminalColumns(io.err),
    });

  program
    .command('manager')
    .description('run the control plane and tunnel relay')
    .option('--host <host>', 'address to bind', CLI_DEFAULTS.host)
    .option('--port <port>', 'port to bind (0 picks a free one)', integer(0, 65535), 0)
    .option('--token-file <file>', 'single-token mode: one bearer token for everyone, created if missing (demo, trying detour out)')
    .option('--auth-file <file>', 'identities, roles, token hashes and policies (YAML or JSON); reloaded on SIGHUP and when it changes; created with an admin identity if missing')
    .option('--audit-file <file>', 'append the audit log (one JSON line per session, intercept and token change) here instead of stderr')
    .option('--lease-ms <ms>', 'how long a silent developer keeps their intercepts', integer(1000, 86_400_000), CLI_DEFAULTS.leaseMs)
    .option('--no-global', 'refuse global intercepts')
    .option('--webhook-port <port>', 'serve the agent injector (Kubernetes admission webhook) over HTTPS on this port', integer(0, 65535))
    .option('--webhook-cert <file>', "the injector's TLS certificate (PEM); re-read when it changes")
    .option('--webhook-key <file>', 'the private key of --webhook-cert (PEM)')
    .option('--agent-image <image>', 'image of the agents the injector adds')
    .option('--agent-manager-url <url>', "this manager's URL as injected agents reach it, e.g. http://detour-manager.detour.svc:8080")
    .option('--agent-token-secret <name>', "Secret (in each injected pod's namespace) holding the token, key `token`", 'detour-token')
    .option('--agent-manager-ca-secret <name>', "Secret (in each injected pod's namespace) whose key ca.crt verifies an https:// --agent-manager-url")
    .option('--agent-insecure', 'injected agents may send the token over cleartext http:// --agent-manager-url (dangerous off a trusted network)', false)
    .option('--agent-resources <json>', 'resources of each injected agent container, JSON: {"requests":{"cpu":"10m","memory":"32Mi"},"limits":{"memory":"128Mi"}} (the default)')
    .option('--inject-namespace <name>', "a namespace whose pods the injector serves (repeatable; default: the manager's --namespace, else its pod's)", collect, [])
    .option('--state-file <file>', 'keep intercepts in this file, so that a restarted manager has them')
    .addOption(new Option('--state <where>', 'where intercepts are kept (kubernetes: intercepts.detour.dev objects)').choices(['memory', 'kubernetes']).default('memory'))
    .option('--namespace <name>', "with --state kubernetes: the intercepts' namespace (default: the pod's own)")
    .option('--kubeconfig <file>', 'with --state kubernetes or --webhook-port: cluster credentials (default: $KUBECONFIG, else the pod\'s ServiceAccount)')
    .option('--metrics-port <port>', 'also serve Prometheus GET /metrics without the token on a listener of its own (0 picks a free port)', integer(0, 65535))
    .option('--metrics-host <host>', 'address that listener binds (default: 127.0.0.1); /metrics on --port always needs the token')
    .option('--tls-cert <file>', 'serve the port over HTTPS (API, tunnels, agents) with this certificate chain (PEM)')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--client-ca <file>', 'with --tls-cert: agents must present a client certificate this CA (PEM) signed (mTLS)')
    .option('--signed-keys', "sign developers' header values; agents route only valid, unexpired signed values to laptops", false)
    .option('--signed-key-ttl <duration>', 'with --signed-keys: how long a signed value is honoured, e.g. 12h (default 24h)')
    .option('--signed-key-rotation <duration>', 'with --signed-keys: how often a new signing key is made, e.g. 7d (default 24h); the old one verifies for one ttl more')
    .addOption(new Option('--egress <where>', "developers' outbound calls (detour run) may reach: agents (registered services, at their agents) or cluster (Service DNS names, from inside the cluster)").choices(['agents', 'cluster']).default('agents'))
    .option('--cluster-domain <domain>', 'with --egress cluster: the cluster DNS domain', 'cluster.local')
    .option('--egress-namespace <name>', 'with --egress cluster: a namespace whose SERVICE.NAMESPACE names are reachable (repeatable; the pod\'s own always is)', collect, [])
    .option('--service-cidr <cidr>', 'with --egress cluster: Service addresses in this CIDR are reachable by IP (repeatable)', collect, [])
    .option('--preview-listen <port>', 'also serve the preview gateway on this port (0 picks a free one), bound to --host', integer(0, 65535))
    .option('--preview-domain <domain>', 'with --preview-listen: previews are <id>.DOMAIN', 'preview.localhost')
    .option('--preview-url <url>', "the preview gateway's public origin, e.g. https://preview.example.test (default with --preview-listen: http://DOMAIN:PORT)")
    .option('--preview-banner', 'with --preview-listen: add a "you are viewing …\'s preview" bar to HTML answers', false)
    .action(async (o: ManagerCommandOptions) => {
      const { managerCommand } = await import('./commands/manager.js');
      const kubeconfig = io.env[ENVIRONMENT.kubeconfig];
      const cluster = { inCluster: io.env[ENVIRONMENT.kubernetesServiceHost] !== undefined, ...(kubeconfig === undefined || kubeconfig === '' ? {} : { kubeconfig }) };
      done(await managerCommand(o, cluster, io, serverLogging('manager'), VERSION, signal));
    });

  program
    .command('agent')
    .description('run the sidecar in front of one service port')
    .requiredOption('--service <name>', 'the service this agent fronts')
    .requiredOption('--listen <port>', 'port callers connect to (0 picks a free one)', integer(0, 65535))
    .requiredOption('--app <url>', "the app's own address, e.g. http://127.0.0.1:8080")
    .requiredOption('--manager <url>', "the manager's URL")
    .requiredOption('--token-file <file>', 'bearer token file')
    .option('--host <host>', 'address to bind', CLI_DEFAULTS.host)
    .option('--max-header-bytes <bytes>', 'largest request head accepted; larger gets 431', integer(1024, 1024 * 1024))
    .option('--header-timeout-ms <ms>', 'time a client has to send its request head; then 408', integer(100, 600_000))
    .addOption(new Option('--protocol <protocol>', 'what the port speaks; auto tells HTTP/2 from HTTP/1.x by the first bytes').choices(AGENT_PROTOCOLS).default('auto'))
    .option('--tls-cert <file>', "the service's own TLS certificate (PEM): the agent terminates TLS, ALPN h2 and http/1.1")
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--app-ca <file>', "CA bundle (PEM) that verifies an https:// --app's certificate")
    .option('--metrics-port <port>', 'serve Prometheus GET /metrics on a listener of its own at this port (0 picks a free one)', integer(0, 65535))
    .option('--metrics-host <host>', 'address the metrics listener binds; it has no authentication (default: 127.0.0.1)')
    .option('--manager-ca <file>', 'CA bundle (PEM) that verifies an https:// --manager (default: the system CAs)')
    .option('--client-cert <file>', 'client certificate (PEM) for a manager run with --client-ca (mTLS)')
    .option('--client-key <file>', 'the private key of --client-cert (PEM)')
    .option('--insecure', 'allow sending the token over cleartext http:// to a manager that is not on this machine (dangerous)', false)
    .option('--env-file <file>', "the .env file the app was started with: published to the manager so that `detour intercept --env-file` gives a laptop copy the same (no cluster needed)")
    .action(async (o: AgentCommandOptions) => {
      const { agentCommand } = await import('./commands/agent.js');
      done(await agentCommand(o, io, serverLogging('agent'), signal));
    });

  program
    .command('inject')
    .description('print Kubernetes manifests with the detour agent injected (Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs, Pods)')
    .requiredOption('-f, --file <file>', 'YAML or JSON manifests, several documents or a List; - reads standard input')
    .option('--service-file <file>', 'more manifests to read Services from (repeatable); not printed', collect, [])
    .requiredOption('--agent-image <image>', 'the detour image the agent runs')
    .requiredOption('--manager <url>', "the manager's URL as the pods reach it, e.g. http://detour-manager.detour.svc:8080")
    .option('--token-secret <name>', "the Secret in the workload's namespace that holds the manager's token", 'detour-token')
    .option('--token-secret-key <key>', 'the key of the token in --token-secret', 'token')
    .option('--manager-ca-secret <name>', 'a Secret in the workload\'s namespace whose key ca.crt verifies an https:// --manager')
    .option('--insecure', 'let the agents send the token over cleartext http:// to the manager (dangerous off a trusted network)', false)
    .action(async (o: InjectCommandOptions) => {
      const { injectCommand } = await import('./commands/inject.js');
      done(await injectCommand(o, io, VERSION));
    });

  program
    .command('uninstall')
    .description("remove detour from a namespace's workloads and Services, field by field")
    .option('--service <name>', 'one Service, and the workloads whose pods it selects')
    .option('--all', 'everything detour changed in the namespace')
    .option('--namespace <name>', "the namespace (repeatable; default: the kubeconfig context's)", collect, [])
    .option('--services-only', "only the Services' targetPorts the manager patched (what the chart's pre-delete hook runs)")
    .option('--intercepts-namespace <name>', 'also delete every intercepts.detour.dev object in this namespace (the manager\'s)')
    .option('--kubeconfig <file>', 'cluster credentials (default: $KUBECONFIG, ~/.kube/config, else the pod\'s ServiceAccount)')
    .action(async (o: UninstallCommandOptions) => {
      const { uninstallCommand } = await import('./commands/uninstall.js');
      const kubeconfig = io.env[ENVIRONMENT.kubeconfig];
      done(await uninstallCommand(o, kubeconfig === undefined || kubeconfig === '' ? undefined : kubeconfig, io));
    });

  program
    .command('connect')
    .description("start the user daemon and open a session with the manager: at --manager URL, or found through your kubeconfig and reached by a port-forward")
    .option('--manager <url>', "the manager's URL (without it: the detour chart's manager in the kubeconfig's namespace)")
    .option('--token-file <file>', 'bearer token file (with --manager)')
    .option('--context <name>', 'without --manager: the kubeconfig context (default: the current one)')
    .option('--namespace <name>', "without --manager: the detour chart's namespace (default: the context's)")
    .option('--name <name>', 'your name, shown to others and part of your header value', defaultName())
    .option('--timeout-ms <ms>', 'how long to wait for the connection', integer(100, 600_000), CLI_DEFAULTS.connectTimeoutMs)
    .option('--manager-ca <file>', "CA bundle (PEM) that verifies an https:// --manager, or the chart's TLS manager through the kubeconfig (default: the chart's RELEASE-detour-manager-ca Secret, else the system CAs)")
    .option('--insecure', 'allow sending the token over cleartext http:// to a manager that is not on this machine (dangerous)', false)
    .action(async (o: Omit<ConnectOptions, 'name'> & { name: string }) => {
      const { connectCommand } = await import('./commands/connect.js');
      done(await connectCommand({ ...o, name: sanitizeName(o.name) }, io, home, BIN_PATH));
    });

  program
    .command('daemon', { hidden: true })
    .description('run the user daemon in the foreground (connect starts it)')
    .option('--manager <url>')
    .option('--token-file <file>')
    .option('--kube-context <name>')
    .option('--kube-namespace <name>')
    .requiredOption('--name <name>')
    .option('--manager-ca <file>')
    .option('--insecure', '', false)
    .action(async (o: DaemonCommandOptions) => {
      const { daemonCommand } = await import('./commands/daemon.js');
      const logger = createLogger('daemon', { level: logLevel, destination: pino.destination({ dest: home.logPath, mkdir: true, sync: false }) });
      done(await daemonCommand(o, kubeconfigLocation(), home, logger, VERSION, signal));
    });

  program
    .command('status')
    .description('show the daemon, manager, session, lease and your intercepts')
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat }) => {
      const { statusCommand } = await import('./commands/status.js');
      done(await statusCommand(o.output, io, home));
    });

  program
    .command('list')
    .description('list services, their agents and every intercept on them')
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat }) => {
      const { listCommand } = await import('./commands/list.js');
      done(await listCommand(o.output, io, home));
    });

  program
    .command('intercept')
    .description('route matching requests of SERVICE to 127.0.0.1:PORT on this machine')
    .argument('<service>', 'the service to intercept')
    .argument('[command...]', 'after --: a command to run; the intercept ends when it exits')
    .requiredOption('--port <port>', 'local port your version of the service listens on', integer(1, 65535))
    .option('--http-header <spec>', 'NAME=VALUE, NAME~=REGEX or auto (repeatable, ANDed)', collect, [])
    .option('--http-path-equal <path>', 'path equals (repeatable, ORed with other path flags)', collect, [])
    .option('--http-path-prefix <path>', 'path starts with (repeatable)', collect, [])
    .option('--http-path-regex <regex>', 'path matches RE2 regex, whole path (repeatable)', collect, [])
    .option('--global', 'take ALL traffic of the service', false)
    .option('--name <name>', 'intercept name (default: the service)')
    .addOption(
      new Option('--on-disconnect <policy>', 'while you are offline, matched requests: fallback (to the app), fail, or hold[=DURATION] (wait for you up to DURATION, default 10s, then fallback)')
        .argParser(parseDisconnectPolicy)
        .default(parseDisconnectPolicy(CLI_DEFAULTS.onDisconnect), CLI_DEFAULTS.onDisconnect),
    )
    .addOption(new Option('--mechanism <kind>', 'http: per request; tcp: whole connections of a raw TCP port (with --global)').choices(['http', 'tcp']).default('http'))
    .addOption(new Option('--mode <mode>', 'intercept: your laptop answers; wiretap: the app answers, your laptop gets a copy (its answer is discarded)').choices(['intercept', 'wiretap']).default('intercept'))
    .option('--fallthrough-status <list>', 'statuses of your answer that send the request to the app instead, e.g. 404,501 (gRPC UNIMPLEMENTED counts as 501)', parseFallthroughStatuses)
    .option('--fallthrough-body-limit <size>', 'with --fallthrough-status: request bodies up to this are kept for the replay (default 1MiB); larger ones never fall through', parseBodyLimit)
    .option('--env-file <file>', "write the service's app environment here (.env, mode 0600): the pod's through the kubeconfig, or what its agents published (detour agent --env-file); -- COMMAND gets it too")
    .option('--env-json <file>', 'the same, as one JSON object')
    .option('--context <name>', 'with --env-file/--env-json: the kubeconfig context (default: the current one)')
    .option('--namespace <name>', "with --env-file/--env-json: the service's namespace (default: the context's)")
    .option('--preview-url', 'also create a preview URL of the intercept (as `detour preview create`)', false)
    .addOption(outputOption())
    .action(async (service: string, command: string[], o: Omit<InterceptOptions, 'service' | 'command' | 'kubeconfigLocation'>) => {
      const { interceptCommand } = await import('./commands/intercept.js');
      outcome = await interceptCommand({ ...o, service, command, kubeconfigLocation: kubeconfigLocation() }, io, home);
    });

  program
    .command('run')
    .description("run COMMAND with its calls to the environment's services (by name) going through your session")
    .argument('<command...>', 'after --: the command, e.g. -- node app.mjs')
    .action(async (command: string[]) => {
      const { runCommand } = await import('./commands/run.js');
      outcome = await runCommand(command, io, home);
    });

  program
    .command('gateway')
    .description('run the preview gateway: <id>.DOMAIN and share links reach a developer\'s intercept')
    .requiredOption('--listen <port>', 'port visitors connect to (0 picks a free one)', integer(0, 65535))
    .requiredOption('--domain <domain>', 'previews are <id>.DOMAIN, e.g. preview.example.test (locally preview.localhost)')
    .requiredOption('--manager <url>', "the manager's URL")
    .requiredOption('--token-file <file>', 'bearer token file')
    .option('--host <host>', 'address to bind', CLI_DEFAULTS.host)
    .option('--banner', 'add a "you are viewing …\'s preview" bar to HTML answers', false)
    .option('--manager-ca <file>', 'CA bundle (PEM) that verifies an https:// --manager (default: the system CAs)')
    .option('--insecure', 'allow sending the token over cleartext http:// to a manager that is not on this machine (dangerous)', false)
    .action(async (o: GatewayCommandOptions) => {
      const { gatewayCommand } = await import('./commands/gateway.js');
      done(await gatewayCommand(o, io, serverLogging('gateway'), signal));
    });

  const preview = program.command('preview').description('preview URLs: links that reach your intercept from any browser, no header needed');
  preview
    .command('create')
    .description('print a URL that reaches the environment with INTERCEPT\'s header added')
    .argument('<intercept>', 'the intercept name')
    .option('--entry <service|url>', "where visitors enter the environment: a service (its agent) or a URL (default: the intercept's service)", parseEntry)
    .option('--expires <duration>', 'how long the link works: 30m, 24h, 7d (at most 30d)', parseExpires, DEFAULT_PREVIEW_TTL_MS)
    .addOption(outputOption())
    .action(async (intercept: string, o: { entry?: PreviewEntry; expires: number; output: OutputFormat }) => {
      const { previewCreateCommand } = await import('./commands/preview.js');
      done(await previewCreateCommand({ intercept, ttlMs: o.expires, output: o.output, ...(o.entry === undefined ? {} : { entry: o.entry }) }, io, home));
    });
  preview
    .command('list')
    .description('list the previews of your intercepts')
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat }) => {
      const { previewListCommand } = await import('./commands/preview.js');
      done(await previewListCommand(o.output, io, home));
    });
  preview
    .command('remove')
    .description('revoke a preview at once')
    .argument('<id>', 'its id, a prefix of at least 6 characters, or its URL')
    .action(async (ref: string) => {
      const { previewRemoveCommand } = await import('./commands/preview.js');
      done(await previewRemoveCommand(ref, io, home));
    });

  program
    .command('leave')
    .description('end one of your intercepts')
    .argument('<name>', 'the intercept name')
    .option('--owner <name>', "end another developer's intercept (admins only), as `detour list` shows its owner")
    .action(async (name: string, o: { owner?: string }) => {
      const { leaveCommand } = await import('./commands/leave.js');
      done(await leaveCommand(name, o.owner, io, home));
    });

  const token = program.command('token').description('manage identities and their tokens (admins; the manager runs with --auth-file)');
  token
    .command('create')
    .description('create an identity and print its token, once')
    .argument('<name>', 'the identity: owner name of everything it does')
    .requiredOption('--role <role>', 'admin, developer or agent')
    .option('--services <list>', 'services it may intercept, comma-separated (default: all)')
    .option('--expires <duration>', 'when the token stops working, e.g. 12h, 30d (default: never)')
    .addOption(outputOption())
    .action(async (name: string, o: { role: string; services?: string; expires?: string; output: OutputFormat }) => {
      const { tokenCreateCommand } = await import('./commands/token.js');
      done(await tokenCreateCommand({ ...o, name }, io, home));
    });
  token
    .command('list')
    .description('list identities, their roles, services and expiry (never their tokens)')
    .addOption(outputOption())
    .action(async (o: { output: OutputFormat }) => {
      const { tokenListCommand } = await import('./commands/token.js');
      done(await tokenListCommand(o.output, io, home));
    });
  token
    .command('revoke')
    .description("remove an identity: its token stops working and its sessions end")
    .argument('<name>', 'the identity')
    .action(async (name: string) => {
      const { tokenRevokeCommand } = await import('./commands/token.js');
      done(await tokenRevokeCommand(name, io, home));
    });

  program
    .command('audit')
    .description("show the manager's audit log: sessions, intercepts, token changes, refusals (admins)")
    .option('--since <duration>', 'only entries this recent, e.g. 90m, 1h, 7d')
    .addOption(outputOption())
    .action(async (o: { since?: string; output: OutputFormat }) => {
      const { auditCommand } = await import('./commands/audit.js');
      done(await auditCommand(o, io, home, Date.now()));
    });

  program
    .command('quit')
    .description('end your intercepts and session, and stop the daemon')
    .action(async () => {
      const { quitCommand } = await import('./commands/quit.js');
      done(await quitCommand(io, home));
    });

  program
    .command('trace')
    .description('send a tagged probe through SERVICE and show which services kept the header')
    .argument('<service>', 'the service to send the probe to')
    .option('--path <path>', 'request path of the probe', '/')
    .option('--header <spec>', `NAME=VALUE, or NAME for a fresh probe value (default: ${DEFAULT_HEADER_NAME} with a fresh probe value)`)
    .addOption(outputOption())
    .action(async (service: string, o: Omit<TraceCommandOptions, 'service'>) => {
      const { traceCommand } = await import('./commands/trace.js');
      done(await traceCommand({ ...o, service }, io, home));
    });

  program
    .command('dashboard')
    .description('open the web dashboard: the environment, your intercepts, and an inspector of the requests routed to this laptop, with replay')
    .option('--port <port>', 'port on 127.0.0.1 to serve it on (default: a free one)', integer(1, 65535))
    .option('--capture-requests <n>', 'how many recent requests the inspector keeps (default 500)', integer(1, 100_000))
    .option('--capture-bytes <size>', 'memory the inspector may use for them, e.g. 32MiB (default 32MiB)')
    .option('--no-open', 'only print the URL; never start a browser')
    .option('--stop', 'stop the dashboard; capturing stops with it')
    .addOption(outputOption())
    .action(async (o: Omit<DashboardCommandOptions, 'stop'> & { stop?: boolean }) => {
      const { dashboardCommand } = await import('./commands/dashboard.js');
      done(await dashboardCommand({ ...o, stop: o.stop === true }, io, home));
    });

  program
    .command('gather-logs')
    .description('write one archive for a bug report: daemon, manager and agent logs, versions, status and list (secrets redacted)')
    .option('-o, --output <file>', 'where to write it (default: detour-logs-<time>.tar.gz in this folder)')
    .action(async (o: { output?: string }) => {
      const { gatherLogsCommand } = await import('./commands/gather-logs.js');
      done(await gatherLogsCommand({ ...(o.output === undefined ? {} : { file: o.output }), cwd: process.cwd(), version: VERSION }, io, home));
    });

  program
    .command('demo')
    .description('run a manager, three sample services with agents and a laptop intercept, all on 127.0.0.1')
    .action(async () => {
      const { demoCommand } = await import('./commands/demo.js');
      done(await demoCommand(io, BIN_PATH, signal));
    });

  // Commander's mistakes read like detour's: one line, with its "Did you mean …?" or else where to look for the usage.
  for (const command of [program, ...program.commands, ...token.commands]) {
    const usage = `(see \`${command === program ? 'detour' : command.parent === token ? `detour token ${command.name()}` : `detour ${command.name()}`} --help\`)`;
    command.configureOutput({
      outputError: (text, write) => write(`detour: ${oneLine(text.replace(/^error: /, ''))}${text.includes('Did you mean') ? '' : ` ${usage}`}\n`),
    });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    return outcome;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its one line already (configureOutput above); --help and --version end here too, successfully.
      return { code: err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.userError };
    }
    return { code: reportFailure(io, err) };
  }
}
