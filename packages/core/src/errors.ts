import { ERROR_CODES } from '@detour/protocol';
import type { ErrorBody, ErrorCode } from '@detour/protocol';

/**
 * The one error type detour throws on purpose. Callers branch on `code`, never on
 * `instanceof` subclasses. `details` carries structured facts (an owner's name,
 * the known services) so that both the CLI and the API can phrase them.
 */
export class DetourError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DetourError';
    this.code = code;
    this.details = options.details;
  }

  /** The HTTP status the API answers this error with. */
  get status(): number {
    return ERROR_CODES[this.code].status || 500;
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.message, this.details);
  }
}

/** The JSON error body every detour component answers with (`{ error: { code, message, details? } }`). */
export function errorBody(code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorBody {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

/** Rebuilds the error an API answered with, so that it can cross the daemon and reach the CLI intact. */
export function errorFromBody(body: ErrorBody): DetourError {
  const code = (body.error.code in ERROR_CODES ? body.error.code : 'DETOUR_ERR_API_BAD_REQUEST') as ErrorCode;
  return new DetourError(code, body.error.message, body.error.details === undefined ? {} : { details: body.error.details });
}

export function isDetourError(err: unknown): err is DetourError {
  const code: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code in ERROR_CODES;
}
