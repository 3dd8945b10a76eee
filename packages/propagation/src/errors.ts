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

/** The one error type this package creates. */
export class PropagationError extends Error {
  readonly code: PropagationErrorCode;

  constructor(code: PropagationErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PropagationError';
    this.code = code;
  }
}
