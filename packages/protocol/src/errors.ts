/** What every error code declares, so that a new code cannot leave any of it out. */
export interface ErrorCodeInfo {
  /** The HTTP status an API answers it with; 0 for codes that never cross an API. */
  status: number;
  /**
   * True when the person who met it can fix it: their input, their token, their app,
   * their staging environment. The CLI then prints the one-line message and exits 2.
   * False when reaching a user at all means detour is wrong (a bug, or two detour
   * parts disagreeing): the CLI prints the stack and exits 1 (STYLE: a mistake is
   * not a bug, wrangler `core/handle-errors.ts`).
   */
  userError: boolean;
  /** One line; `docs/errors.md` says the same. */
  meaning: string;
}

/**
 * Every error code detour emits, with the HTTP status the manager answers it
 * with (where it crosses the API), whether it is the user's to fix, and a one-line
 * meaning. `docs/errors.md` lists the same codes; a test keeps the two in step.
 */
export const ERROR_CODES = {
  DETOUR_ERR_API_BAD_REQUEST: { status: 400, userError: true, meaning: 'The request body or query does not match the API schema.' },
  DETOUR_ERR_API_NOT_FOUND: { status: 404, userError: false, meaning: 'No such API endpoint.' },
  DETOUR_ERR_API_BODY_TOO_LARGE: { status: 413, userError: true, meaning: 'The JSON body exceeds the API limit.' },
  DETOUR_ERR_AUTH_MISSING_TOKEN: { status: 401, userError: true, meaning: 'No bearer token was sent.' },
  DETOUR_ERR_AUTH_BAD_TOKEN: { status: 401, userError: true, meaning: 'The bearer token is wrong, revoked or expired.' },
  DETOUR_ERR_AUTH_FORBIDDEN: { status: 403, userError: true, meaning: "The token's identity lacks the permission (its role or policy); the message names the rule and who can change it." },
  DETOUR_ERR_AUTH_FILE_INVALID: { status: 0, userError: true, meaning: 'The --auth-file has errors; the manager lists every one (line and field) and does not start, or keeps its previous identities on a reload.' },
  DETOUR_ERR_TOKEN_NAME_TAKEN: { status: 409, userError: true, meaning: '`detour token create` named an identity that exists; revoke it first.' },
  DETOUR_ERR_TOKEN_NOT_FOUND: { status: 404, userError: true, meaning: '`detour token revoke` named no identity.' },
  DETOUR_ERR_TOKEN_NO_AUTH_FILE: { status: 409, userError: true, meaning: 'The manager runs in single-token mode (--token-file): identities are managed only with --auth-file.' },
  DETOUR_ERR_TOKEN_WRITE_FAILED: { status: 503, userError: true, meaning: 'The manager could not change its --auth-file (read-only, e.g. a mounted Secret, or it has errors to fix first); nothing changed.' },
  DETOUR_ERR_SESSION_UNKNOWN: { status: 404, userError: true, meaning: 'The session does not exist (expired, or the manager restarted).' },
  DETOUR_ERR_SESSION_BAD_KEY: { status: 403, userError: false, meaning: 'The session key does not prove ownership of the session.' },
  DETOUR_ERR_SESSION_NAME_TAKEN: { status: 409, userError: true, meaning: 'Another developer already uses this header value.' },
  DETOUR_ERR_INTERCEPT_UNKNOWN_SERVICE: { status: 404, userError: true, meaning: 'No agent serves the named service.' },
  DETOUR_ERR_INTERCEPT_CONFLICT: { status: 409, userError: true, meaning: 'An intercept with identical matchers exists on the service.' },
  DETOUR_ERR_INTERCEPT_GLOBAL_CONFLICT: { status: 409, userError: true, meaning: 'A global intercept cannot coexist with any other intercept on its service.' },
  DETOUR_ERR_INTERCEPT_GLOBAL_DISABLED: { status: 403, userError: true, meaning: 'The manager runs with --no-global.' },
  DETOUR_ERR_INTERCEPT_INVALID_MATCHER: { status: 400, userError: true, meaning: 'A matcher is malformed, e.g. a regex RE2 cannot compile.' },
  DETOUR_ERR_INTERCEPT_NAME_TAKEN: { status: 409, userError: true, meaning: 'You already have an intercept with that name.' },
  DETOUR_ERR_INTERCEPT_NOT_FOUND: { status: 404, userError: true, meaning: 'No intercept with that id or name.' },
  DETOUR_ERR_INTERCEPT_FORBIDDEN: { status: 403, userError: true, meaning: 'The intercept belongs to another developer.' },
  DETOUR_ERR_INTERCEPT_TCP_NEEDS_GLOBAL: { status: 400, userError: true, meaning: 'A raw TCP service (agents run with --protocol tcp) takes only global intercepts with --mechanism tcp: no header or path matchers.' },
  DETOUR_ERR_INTERCEPT_MECHANISM_MISMATCH: { status: 400, userError: true, meaning: 'An intercept with --mechanism tcp names a service whose agents speak HTTP.' },
  DETOUR_ERR_INTERCEPT_ACK_TIMEOUT: { status: 504, userError: true, meaning: 'Not every agent of the service acknowledged the rule in time; nothing was created.' },
  DETOUR_ERR_TUNNEL_OFFLINE: { status: 503, userError: true, meaning: "The intercept's developer is not connected." },
  DETOUR_ERR_LOCAL_APP_UNREACHABLE: { status: 502, userError: true, meaning: "The developer's local app refused or dropped the connection." },
  DETOUR_ERR_EGRESS_FORBIDDEN: { status: 403, userError: true, meaning: 'An outbound call through the daemon\'s proxy named a destination outside the environment; the manager dials only cluster services and registered services.' },
  DETOUR_ERR_EGRESS_UNREACHABLE: { status: 502, userError: true, meaning: 'The manager could not connect to the environment destination of an outbound call (nothing listens, or the name does not resolve there).' },
  DETOUR_ERR_EGRESS_OFFLINE: { status: 503, userError: true, meaning: 'The daemon cannot carry an outbound call: it is not connected to the manager right now.' },
  DETOUR_ERR_AGENT_BAD_REQUEST: { status: 400, userError: true, meaning: 'The agent received malformed HTTP.' },
  DETOUR_ERR_AGENT_HEAD_TOO_LARGE: { status: 431, userError: true, meaning: 'The request head exceeds the agent limit.' },
  DETOUR_ERR_AGENT_HEAD_TIMEOUT: { status: 408, userError: true, meaning: 'The client did not finish its request head in time.' },
  DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE: { status: 502, userError: true, meaning: 'The agent could not reach or read the app.' },
  DETOUR_ERR_TRACE_UNKNOWN_SERVICE: { status: 404, userError: true, meaning: '`detour trace` named a service no agent serves.' },
  DETOUR_ERR_TRACE_NO_AGENTS: { status: 409, userError: true, meaning: 'The traced service has intercepts but no connected agent to send the probe to.' },
  DETOUR_ERR_TRACE_AGENT_UNREACHABLE: { status: 502, userError: true, meaning: "The manager could not send the probe to the agent's listen address." },
  DETOUR_ERR_TRACE_TIMEOUT: { status: 504, userError: true, meaning: 'The probe did not complete, or its first agent did not report it, within the deadline.' },
  DETOUR_ERR_TRACE_BUSY: { status: 429, userError: true, meaning: 'Too many traces run at once; retry when one has finished.' },
  DETOUR_ERR_TRACE_NOT_FOUND: { status: 404, userError: false, meaning: 'No active trace with that id (it finished); the sighting is dropped.' },
  DETOUR_ERR_DASHBOARD_REPLAY_FAILED: { status: 502, userError: true, meaning: 'A replay from the dashboard got no answer: the local app or the agent it was sent to did not answer.' },
  DETOUR_ERR_DASHBOARD_NO_AGENT: { status: 409, userError: true, meaning: 'A replay to the environment found no connected agent of the service with an address to send it to.' },
  DETOUR_ERR_DASHBOARD_EXCHANGE_UNKNOWN: { status: 404, userError: true, meaning: 'The dashboard asked for a captured request or intercept this daemon no longer has.' },
  DETOUR_ERR_DASHBOARD_PORT_IN_USE: { status: 409, userError: true, meaning: '`detour dashboard --port` named a port something else listens on.' },
  DETOUR_ERR_WEBHOOK_BAD_REVIEW: { status: 400, userError: true, meaning: 'The injection webhook was sent a body that is not an AdmissionReview admission.k8s.io/v1 with a request uid.' },
  DETOUR_ERR_WEBHOOK_NO_SERVICES: { status: 0, userError: false, meaning: "The injection webhook cannot see the pod's namespace's Services (not a namespace it manages, or not listed yet); the pod is admitted unchanged." },
  DETOUR_ERR_INJECT_BAD_MANIFEST: { status: 0, userError: true, meaning: '`detour inject` was given a file that is not YAML or JSON Kubernetes objects.' },
  DETOUR_ERR_LOGS_NOT_FOUND: { status: 404, userError: false, meaning: "No log collection waits for this agent's lines (its deadline passed); they are dropped." },
  DETOUR_ERR_STATE_FILE_CORRUPT: { status: 0, userError: true, meaning: 'The --state-file holds no valid detour state; the manager does not start rather than overwrite it.' },
  DETOUR_ERR_STATE_LOAD_FAILED: { status: 0, userError: true, meaning: 'The manager could not read its stored intercepts at start-up (file unreadable, Kubernetes API unreachable or forbidden).' },
  DETOUR_ERR_STATE_WRITE_FAILED: { status: 503, userError: true, meaning: 'The manager could not store a change of intercepts; nothing was created, and it keeps retrying the write.' },
  DETOUR_ERR_TLS_MANAGER_UNTRUSTED: { status: 0, userError: true, meaning: "The manager's TLS certificate could not be verified (unknown CA, wrong host name, expired); pass the CA that signed it with --manager-ca." },
  DETOUR_ERR_TLS_CLEARTEXT_TOKEN: { status: 0, userError: true, meaning: 'The token would cross the network unencrypted (an http:// manager that is not on loopback); use https:// or pass --insecure.' },
  DETOUR_ERR_AUTH_CLIENT_CERT: { status: 403, userError: true, meaning: 'The manager requires agents to present a client certificate signed by its --client-ca (mTLS); the agent sent none or an untrusted one.' },
  DETOUR_ERR_PREVIEW_NOT_FOUND: { status: 404, userError: true, meaning: 'No preview with that id (unknown, revoked with its intercept, or expired).' },
  DETOUR_ERR_PREVIEW_DISABLED: { status: 409, userError: true, meaning: 'The manager has no preview gateway (start it with --preview-url or --preview-listen).' },
  DETOUR_ERR_PREVIEW_NO_HEADER: { status: 400, userError: true, meaning: 'The intercept matches a header by regex, so a preview has no exact value to add.' },
  DETOUR_ERR_PREVIEW_ENTRY_UNREACHABLE: { status: 502, userError: true, meaning: "The preview's entry (a service's agent or a URL) does not answer, or the service has no agent." },
  DETOUR_ERR_GATEWAY_MANAGER_UNREACHABLE: { status: 503, userError: true, meaning: 'The preview gateway could not ask the manager about a preview.' },
  DETOUR_ERR_UNINSTALL_FAILED: { status: 0, userError: true, meaning: '`detour uninstall` could not read or write the cluster (no such Service, API unreachable or forbidden); what it printed before the error was done.' },
  DETOUR_ERR_INTERNAL_BUG: { status: 500, userError: false, meaning: 'A bug in detour; the log holds the stack.' },
  DETOUR_ERR_CLI_USAGE: { status: 0, userError: true, meaning: 'The command line is wrong (exit code 2).' },
  DETOUR_ERR_CLI_NOT_CONNECTED: { status: 0, userError: true, meaning: 'No daemon is running for this DETOUR_HOME; run `detour connect`.' },
  DETOUR_ERR_CLI_DAEMON_FAILED: { status: 0, userError: true, meaning: 'The daemon could not start or connect.' },
  DETOUR_ERR_KUBE_NO_CONFIG: { status: 0, userError: true, meaning: 'No kubeconfig was found, or it names no such context.' },
  DETOUR_ERR_KUBE_UNREACHABLE: { status: 0, userError: true, meaning: "The kubeconfig's cluster did not answer, or refused the developer's credentials." },
  DETOUR_ERR_KUBE_NO_MANAGER: { status: 0, userError: true, meaning: 'No detour manager Service (or no ready manager pod) in the namespace.' },
  DETOUR_ERR_KUBE_FORBIDDEN: { status: 0, userError: true, meaning: "The developer's Kubernetes credentials may not read what detour needs (the token Secret, a pod, a ConfigMap)." },
  DETOUR_ERR_ENV_NOT_PUBLISHED: { status: 404, userError: true, meaning: '`--env-file` without a cluster: no connected agent of the service was started with `detour agent --env-file`.' },
  DETOUR_ERR_KUBE_NO_WORKLOAD: { status: 0, userError: true, meaning: '`--env-file`: no running pod backs the service, or its app container cannot be told apart.' },
  DETOUR_ERR_CONFIG_INVALID: { status: 0, userError: true, meaning: 'A flag, environment variable or file holds an invalid value.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;
