/**
 * Why an app module could not be imported, in one line that points at the
 * user's code: each runtime reports a syntax error in its own shape (Bun a
 * `BuildMessage` with a `position`, Deno an `at file:…:line:column` inside the
 * message, Node a `file:line` header on the stack of TypeScript errors, and
 * nothing at all for JavaScript ones, which its adapter locates itself).
 *
 * @module
 */

import { describeError } from "./errors.ts";

const AT_IN_MESSAGE = /\n\s*at (file:\/\/\S+?:\d+(?::\d+)?)\s*(?:\n|$)/;
const HEADER = /^((?:file:\/\/|\/|[A-Za-z]:\\)\S*?:\d+)\r?\n/;

/**
 * Where in the source an import failure points, as the runtime reported it.
 *
 * @param error What the import threw.
 * @returns `file:line` or `file:line:column`, or `undefined` when the error does not say.
 * @example
 * ```ts
 * errorLocation(new Error("Expected ';'\n    at file:///app.ts:3:29")); // "file:///app.ts:3:29"
 * ```
 */
export function errorLocation(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { position, message, stack } = error as { position?: unknown; message?: unknown; stack?: unknown };
  // Bun's BuildMessage.
  if (typeof position === "object" && position !== null) {
    const { file, line, column } = position as { file?: unknown; line?: unknown; column?: unknown };
    if (typeof file === "string" && file !== "" && typeof line === "number") {
      return typeof column === "number" ? `${file}:${line}:${column}` : `${file}:${line}`;
    }
  }
  // Deno's (and rota's TypeScript loader's) message.
  if (typeof message === "string") {
    const match = AT_IN_MESSAGE.exec(message);
    if (match) return match[1];
  }
  // Node's decorated stack.
  if (typeof stack === "string") {
    const match = HEADER.exec(stack);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * Whether `error` is the runtime refusing to parse a module.
 *
 * @param error What the import threw.
 * @returns True for a syntax error in any runtime's shape.
 * @example
 * ```ts
 * isSyntaxError(new SyntaxError("Unexpected token ')'")); // true
 * ```
 */
export function isSyntaxError(error: unknown): boolean {
  if (error instanceof SyntaxError) return true;
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  return name === "BuildMessage" || (typeof message === "string" && message.startsWith("SyntaxError:"));
}

/**
 * One line describing an import failure, naming the file and line when known.
 *
 * @param error What the import threw.
 * @param location Where it happened, when the runtime's error does not say.
 * @returns For example `syntax error at /srv/app.ts:3:29: Expected ';', got ')'`.
 * @example
 * ```ts
 * describeImportFailure(new SyntaxError("Unexpected token ')'"), "file:///srv/app.js:3");
 * // "syntax error at /srv/app.js:3: Unexpected token ')'"
 * ```
 */
export function describeImportFailure(error: unknown, location?: string): string {
  const first = firstError(error);
  location ??= errorLocation(first);
  const reason = describeError(first).replace(/^SyntaxError:\s*/, "");
  if (location === undefined) return reason;
  const where = location.startsWith("file://") ? decodeURI(location.slice("file://".length)) : location;
  return isSyntaxError(first) ? `syntax error at ${where}: ${reason}` : `${reason} (at ${where})`;
}

/**
 * The first of several errors (Bun reports every syntax error of a module at
 * once, as an `AggregateError` of `BuildMessage`s), or `error` itself.
 *
 * @param error What the import threw.
 * @returns The error to describe.
 * @example
 * ```ts
 * firstError(new AggregateError([new SyntaxError("a"), new SyntaxError("b")])); // SyntaxError: a
 * ```
 */
export function firstError(error: unknown): unknown {
  const errors = (error as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) && errors.length > 0 ? errors[0] : error;
}
