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

/**
 * Rebuilds the error an API answered with, so that it can cross the daemon and reach the CLI intact.
 * A code this build does not know means the peer is another version of detour, or not detour at all:
 * nothing the user typed, so it becomes DETOUR_ERR_INTERNAL_BUG, with the peer's code kept in the
 * message and in `details.peerCode` for the report.
 */
export function errorFromBody(body: ErrorBody): DetourError {
  const { code, message, details } = body.error;
  if (!isErrorCode(code)) {
    return new DetourError('DETOUR_ERR_INTERNAL_BUG', `the peer answered with an error code this detour does not know, ${code}: ${message}`, {
      details: { ...details, peerCode: code, peerMessage: message },
    });
  }
  return new DetourError(code, message, details === undefined ? {} : { details });
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

export function isDetourError(err: unknown): err is DetourError {
  return err instanceof Error && isErrorCode((err as Error & { code?: unknown }).code);
}

/** A DetourError the user can fix (ERROR_CODES[code].userError): the CLI prints its message on one line and exits 2. */
export function isUserError(err: unknown): err is DetourError {
  return isDetourError(err) && ERROR_CODES[err.code].userError;
}
