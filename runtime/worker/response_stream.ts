/**
 * Streamed response bodies that fail. When the app's body stream errors after
 * the head of the response went out, every runtime printed its own multi-line
 * stack outside rota's log (and `@hono/node-server` appended the error's text
 * to the body). rota logs one line instead, with the request, and ends the
 * exchange so that the client sees a broken response, never a complete one.
 *
 * Telling a streamed body from a string or a buffer costs nothing at the
 * moment a `Response` is built, and much at any later moment (reading
 * `response.body` makes `@hono/node-server` give up its fast path, and on Bun
 * turns every body into a stream). So while a worker serves, the global
 * `Response` is a subclass that guards the bodies given to it as streams;
 * the handler then binds each guarded response it returns to its request.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { pathOf } from "./route.ts";

/** One request's connection, as far as a failed body needs it. */
export interface Connection {
  /**
   * Close the connection now, without an answer and without an error.
   * Returns false when the runtime cannot: the body stream is then errored
   * with no reason, which Bun takes as a quiet reset.
   */
  cut(): boolean;
}

interface Binding {
  readonly request: Request;
  readonly connection: Connection;
}

class Guard {
  binding: Binding | undefined;
}

/** The responses of one worker whose bodies are streams. */
export class StreamGuards {
  #log: Logger;
  #guards = new WeakMap<object, Guard>();

  /** @param log Where a failed body is reported. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Make the global `Response` guard streamed bodies, from now on.
   *
   * @returns The teardown, which puts the previous `Response` back.
   */
  install(): () => void {
    const Base = globalThis.Response;
    const guards = this.#guards;
    const log = this.#log;
    class GuardedResponse extends Base {
      constructor(body?: BodyInit | null, init?: ResponseInit) {
        const guard = body instanceof ReadableStream ? new Guard() : undefined;
        super(guard ? guardBody(body as ReadableStream<Uint8Array>, guard, log) : body, init);
        if (guard) guards.set(this, guard);
      }
      // Responses built elsewhere (`fetch()`, before the install) are Responses too.
      static override [Symbol.hasInstance](value: unknown): boolean {
        return value instanceof Base;
      }
    }
    // Defined, not assigned: after an adapter's own replacement the property may be read-only.
    const define = (value: typeof Response) =>
      Object.defineProperty(globalThis, "Response", { value, writable: true, configurable: true });
    define(GuardedResponse);
    return () => {
      if (globalThis.Response === GuardedResponse) define(Base);
    };
  }

  /**
   * The app answered `request` with `response`: if its body is guarded, a
   * failure of it is reported for this request and ends this connection.
   *
   * @param response The response going to the client.
   * @param request Its request.
   * @param connection Its connection.
   */
  bind(response: Response, request: Request, connection: Connection): void {
    const guard = this.#guards.get(response);
    if (guard) guard.binding = { request, connection };
  }
}

/**
 * Pass `source` through. A failure of a bound body is logged and ends the
 * exchange quietly; an unbound one (a stream the app reads itself) fails as
 * it would have.
 */
function guardBody(source: ReadableStream<Uint8Array>, guard: Guard, log: Logger): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let broken = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Once cut, the runtime cancels this stream when it sees the connection close.
      if (broken) return new Promise<void>(() => {});
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        const binding = guard.binding;
        if (!binding) return controller.error(error);
        broken = true;
        log.error(`response stream failed: ${describeError(error)}`, {
          method: binding.request.method,
          path: pathOf(binding.request.url),
          stack: error instanceof Error ? error.stack : undefined,
        });
        if (binding.connection.cut()) return new Promise<void>(() => {});
        return controller.error(undefined);
      }
      if (chunk.done) controller.close();
      else controller.enqueue(chunk.value);
    },
    cancel(reason) {
      // The source may have failed already: there is nothing left to release then.
      return reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
