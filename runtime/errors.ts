/**
 * The one error class rota throws, and its stable codes.
 *
 * Codes cross the IPC channel as strings: match on `code`, never on `message`.
 *
 * @module
 */

/** Every code a {@linkcode RotaError} can carry. */
export type RotaErrorCode =
  | "ERR_ROTA_USAGE"
  | "ERR_ROTA_APP_NOT_FOUND"
  | "ERR_ROTA_APP_IMPORT"
  | "ERR_ROTA_APP_SHAPE"
  | "ERR_ROTA_LISTEN"
  | "ERR_ROTA_INIT_FAILED"
  | "ERR_ROTA_INIT_TIMEOUT"
  | "ERR_ROTA_INIT_PENDING"
  | "ERR_ROTA_STARTUP_FAILED"
  | "ERR_ROTA_PERMISSION"
  | "ERR_ROTA_HOOK"
  | "ERR_ROTA_CONFIG"
  | "ERR_ROTA_CONFIG_CONFLICT"
  | "ERR_ROTA_CONTROL"
  | "ERR_ROTA_NOTIFY"
  | "ERR_ROTA_BODY_TOO_LARGE";

/**
 * An error with a stable `code`.
 *
 * @example
 * ```ts
 * throw new RotaError("ERR_ROTA_LISTEN", "Cannot listen on 127.0.0.1:8000: address in use");
 * ```
 */
export class RotaError extends Error {
  /** Always `"RotaError"`. */
  override name = "RotaError";
  /** Stable identifier of the failure. */
  readonly code: RotaErrorCode;

  /**
   * Create an error with a stable code.
   *
   * @param code Stable identifier of the failure.
   * @param message One line for a person.
   * @param options The underlying cause.
   */
  constructor(code: RotaErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Whether `error` is an invalid-input error: a {@linkcode RotaError} with code
 * `ERR_ROTA_USAGE`, or a `TypeError`/`RangeError` thrown by option validation.
 *
 * @param error Anything thrown.
 * @returns True when the error means "the caller asked for something invalid".
 * @example
 * ```ts
 * isUsageError(new RangeError("bad")); // true
 * ```
 */
export function isUsageError(error: unknown): boolean {
  return (error instanceof RotaError && error.code === "ERR_ROTA_USAGE") ||
    error instanceof TypeError || error instanceof RangeError;
}

/**
 * One line describing `error`, for logs and for the last line a CLI prints.
 *
 * @param error Anything thrown.
 * @returns `message`, or the value as a string.
 * @example
 * ```ts
 * describeError(new Error("boom")); // "boom"
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split("\n")[0];
  return String(error);
}
