/**
 * Exit codes `detour` returns (docs/errors.md); a command run by
 * `intercept -- CMD` passes its own through instead. `headerDropped` is not a
 * failure of detour but a verdict: `detour trace` saw a hop without the header,
 * so a CI job can gate on it.
 */
export const EXIT_CODES = { ok: 0, bug: 1, userError: 2, headerDropped: 3 } as const;
