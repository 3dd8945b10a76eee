/**
 * Every error code detour emits, with the HTTP status the manager answers it
 * with (where it crosses the API) and a one-line meaning. `docs/errors.md` lists
 * the same codes; a test keeps the two in step.
 */
export const ERROR_CODES = {
  DETOUR_ERR_API_BAD_REQUEST: { status: 400, meaning: 'The request body or query does not match the API schema.' },
  DETOUR_ERR_API_NOT_FOUND: { status: 404, meaning: 'No such API endpoint.' },
  DETOUR_ERR_API_BODY_TOO_LARGE: { status: 413, meaning: 'The JSON body exceeds the API limit.' },
  DETOUR_ERR_AUTH_MISSING_TOKEN: { status: 401, meaning: 'No bearer token was sent.' },
  DETOUR_ERR_AUTH_BAD_TOKEN: { status: 401, meaning: 'The bearer token is wrong.' },
  DETOUR_ERR_SESSION_UNKNOWN: { status: 404, meaning: 'The session does not exist (expired, or the manager restarted).' },
  DETOUR_ERR_SESSION_BAD_KEY: { status: 403, meaning: 'The session key does not prove ownership of the session.' },
  DETOUR_ERR_SESSION_NAME_TAKEN: { status: 409, meaning: 'Another developer already uses this header value.' },
  DETOUR_ERR_INTERCEPT_UNKNOWN_SERVICE: { status: 404, meaning: 'No agent serves the named service.' },
  DETOUR_ERR_INTERCEPT_CONFLICT: { status: 409, meaning: 'An intercept with identical matchers exists on the service.' },
  DETOUR_ERR_INTERCEPT_GLOBAL_CONFLICT: { status: 409, meaning: 'A global intercept cannot coexist with any other intercept on its service.' },
  DETOUR_ERR_INTERCEPT_GLOBAL_DISABLED: { status: 403, meaning: 'The manager runs with --no-global.' },
  DETOUR_ERR_INTERCEPT_INVALID_MATCHER: { status: 400, meaning: 'A matcher is malformed, e.g. a regex RE2 cannot compile.' },
  DETOUR_ERR_INTERCEPT_NAME_TAKEN: { status: 409, meaning: 'You already have an intercept with that name.' },
  DETOUR_ERR_INTERCEPT_NOT_FOUND: { status: 404, meaning: 'No intercept with that id or name.' },
  DETOUR_ERR_INTERCEPT_FORBIDDEN: { status: 403, meaning: 'The intercept belongs to another developer.' },
  DETOUR_ERR_INTERCEPT_TCP_NEEDS_GLOBAL: { status: 400, meaning: 'A raw TCP service (agents run with --protocol tcp) takes only global intercepts with --mechanism tcp: no header or path matchers.' },
  DETOUR_ERR_INTERCEPT_MECHANISM_MISMATCH: { status: 400, meaning: 'An intercept with --mechanism tcp names a service whose agents speak HTTP.' },
  DETOUR_ERR_INTERCEPT_ACK_TIMEOUT: { status: 504, meaning: 'Not every agent of the service acknowledged the rule in time; nothing was created.' },
  DETOUR_ERR_TUNNEL_OFFLINE: { status: 503, meaning: "The intercept's developer is not connected." },
  DETOUR_ERR_LOCAL_APP_UNREACHABLE: { status: 502, meaning: "The developer's local app refused or dropped the connection." },
  DETOUR_ERR_AGENT_BAD_REQUEST: { status: 400, meaning: 'The agent received malformed HTTP.' },
  DETOUR_ERR_AGENT_HEAD_TOO_LARGE: { status: 431, meaning: 'The request head exceeds the agent limit.' },
  DETOUR_ERR_AGENT_HEAD_TIMEOUT: { status: 408, meaning: 'The client did not finish its request head in time.' },
  DETOUR_ERR_AGENT_UPSTREAM_UNREACHABLE: { status: 502, meaning: 'The agent could not reach or read the app.' },
  DETOUR_ERR_TRACE_UNKNOWN_SERVICE: { status: 404, meaning: '`detour trace` named a service no agent serves.' },
  DETOUR_ERR_TRACE_NO_AGENTS: { status: 409, meaning: 'The traced service has intercepts but no connected agent to send the probe to.' },
  DETOUR_ERR_TRACE_AGENT_UNREACHABLE: { status: 502, meaning: "The manager could not send the probe to the agent's listen address." },
  DETOUR_ERR_TRACE_TIMEOUT: { status: 504, meaning: 'The probe did not complete, or its first agent did not report it, within the deadline.' },
  DETOUR_ERR_TRACE_BUSY: { status: 429, meaning: 'Too many traces run at once; retry when one has finished.' },
  DETOUR_ERR_TRACE_NOT_FOUND: { status: 404, meaning: 'No active trace with that id (it finished); the sighting is dropped.' },
  DETOUR_ERR_INTERNAL_BUG: { status: 500, meaning: 'A bug in detour; the log holds the stack.' },
  DETOUR_ERR_CLI_USAGE: { status: 0, meaning: 'The command line is wrong (exit code 2).' },
  DETOUR_ERR_CLI_NOT_CONNECTED: { status: 0, meaning: 'No daemon is running for this DETOUR_HOME; run `detour connect`.' },
  DETOUR_ERR_CLI_DAEMON_FAILED: { status: 0, meaning: 'The daemon could not start or connect.' },
  DETOUR_ERR_CONFIG_INVALID: { status: 0, meaning: 'A flag, environment variable or file holds an invalid value.' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
