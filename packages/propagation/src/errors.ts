/** Stable error codes; callers branch on `err.code`. */
export const ERROR_CODES = Object.freeze({
  /** Options or environment variables were invalid. */
  CONFIG: 'DETOUR_ERR_PROPAGATION_CONFIG',
  /** A value given to `withValue`/`withHeaders` cannot be carried. */
  VALUE: 'DETOUR_ERR_PROPAGATION_VALUE',
  /** The start-up self-check found the hooks inactive (strict mode only). */
  SELF_TEST: 'DETOUR_ERR_PROPAGATION_SELF_TEST',
});

export type PropagationErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

const CODES: ReadonlySet<string> = new Set(Object.values(ERROR_CODES));

/** The one error type this package creates. Callers branch on `code` (isPropagationError), not on `instanceof`. */
export class PropagationError extends Error {
  readonly code: PropagationErrorCode;

  constructor(code: PropagationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PropagationError';
    this.code = code;
  }
}

/** True for an error carrying one of ERROR_CODES, whichever copy of this package made it. */
export function isPropagationError(err: unknown): err is PropagationError {
  const code: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && CODES.has(code);
}
