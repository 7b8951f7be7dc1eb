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

// Every code once, checked by the compiler against the union: a code added to one and not the other does not compile.
const CODES: Readonly<Record<RotaErrorCode, true>> = {
  ERR_ROTA_USAGE: true,
  ERR_ROTA_APP_NOT_FOUND: true,
  ERR_ROTA_APP_IMPORT: true,
  ERR_ROTA_APP_SHAPE: true,
  ERR_ROTA_LISTEN: true,
  ERR_ROTA_INIT_FAILED: true,
  ERR_ROTA_INIT_TIMEOUT: true,
  ERR_ROTA_INIT_PENDING: true,
  ERR_ROTA_STARTUP_FAILED: true,
  ERR_ROTA_PERMISSION: true,
  ERR_ROTA_HOOK: true,
  ERR_ROTA_CONFIG: true,
  ERR_ROTA_CONFIG_CONFLICT: true,
  ERR_ROTA_CONTROL: true,
  ERR_ROTA_NOTIFY: true,
  ERR_ROTA_BODY_TOO_LARGE: true,
};

/**
 * Whether `value` is one of rota's codes: for a code that crossed the IPC
 * channel, which any process could have sent.
 *
 * @param value Anything, typically a string from another process.
 * @returns True when it is a {@linkcode RotaErrorCode}.
 * @example
 * ```ts
 * isRotaErrorCode("ERR_ROTA_LISTEN"); // true
 * isRotaErrorCode("EADDRINUSE"); // false
 * ```
 */
export function isRotaErrorCode(value: unknown): value is RotaErrorCode {
  return typeof value === "string" && Object.hasOwn(CODES, value);
}

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
