/**
 * Per-request limits, the same on every runtime: `--max-body` (413 before a
 * declared body is read; for a streamed one, the app's read fails as soon as
 * it passes the limit, and the 413 goes out once its rest was read) and
 * `--request-timeout` (504 once the app's handler has run too long). A
 * handler cannot be stopped from outside, so at the timeout rota answers for
 * it, aborts the `signal` of the request the app was given, and drops the
 * app's answer when it finally comes.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { RotaError } from "../errors.ts";
import { routeOf } from "./route.ts";

/** Options for {@linkcode RequestLimits}. */
export interface RequestLimitsOptions {
  /** Milliseconds a handler may run before the answer is 504; 0: no limit. */
  requestTimeout: number;
  /** Bytes a request body may have before the answer is 413; 0: no limit. */
  maxBody: number;
  /** The clock the timeout runs on. */
  clock: Clock;
  /** Where a limit that was hit is reported (rate-limited by the caller), by kind. */
  warn(kind: "max-body" | "request-timeout", message: string): void;
}

/** A request as the app gets it, and how to turn the app's answer into the client's. */
export interface Guarded {
  /** The request to hand the app: the original, or a copy with a counted body and a signal that also aborts at the timeout. */
  readonly request: Request;
  /**
   * Race the app's answer against the limits.
   *
   * @param answer The app's answer (never rejects).
   * @returns The app's answer, or rota's 504 or 413 when a limit came first, and which.
   */
  settle(answer: Promise<Response>): Promise<Settled>;
}

/** The answer a guarded request gets. */
export interface Settled {
  readonly response: Response;
  /**
   * The limit rota answered for, when it did: `max-body`'s 413 closes the
   * connection (the body was not read to its end); the 504 does not.
   */
  readonly limit?: "max-body" | "request-timeout";
}

/**
 * How long the rest of a chunked body that passed `--max-body` is read and
 * thrown away before rota's 413 goes out (nginx's `lingering_timeout` is 5 s
 * too): a client that sends its whole body before it reads the answer (Node's
 * `http` client does) then gets the 413 instead of a reset, which would lose
 * the answer it has not read. A client still sending after this long gets the
 * 413 then, and its connection is cut {@linkcode CUT_AFTER_MS} later.
 */
export const LINGER_MS = 5000;

/**
 * The 413 rota answers for a body above `--max-body`. The connection closes
 * after it: a declared body is never read, and a chunked one may not have
 * ended within {@linkcode LINGER_MS}.
 *
 * @returns A JSON 413.
 */
export function payloadTooLarge(): Response {
  return Response.json({ error: "payload too large" }, { status: 413, headers: { connection: "close" } });
}

/**
 * The 504 rota answers for a handler that passed `--request-timeout`.
 *
 * @returns A JSON 504.
 */
export function gatewayTimeout(): Response {
  return Response.json({ error: "gateway timeout" }, { status: 504 });
}

/**
 * The limits of one worker.
 *
 * @example
 * ```ts
 * const limits = new RequestLimits({ requestTimeout: 0, maxBody: 10 * 2 ** 20, clock, warn });
 * const refused = limits.refuse(request);
 * if (refused) return refused;
 * const guarded = limits.guard(request);
 * ```
 */
export class RequestLimits {
  #options: RequestLimitsOptions;

  /** @param options The limits and where to report them. */
  constructor(options: RequestLimitsOptions) {
    this.#options = options;
  }

  /**
   * Refuse a request whose declared body is too large, before anything reads it.
   *
   * @param request The request.
   * @returns rota's 413, or `undefined` when the request may go on.
   */
  refuse(request: Request): Response | undefined {
    const { maxBody, warn } = this.#options;
    if (maxBody <= 0 || !mayHaveBody(request.method)) return undefined;
    const declared = request.headers.get("content-length");
    if (declared === null || Number(declared) <= maxBody) return undefined;
    warn("max-body", `request body of ${declared} bytes is above --max-body ${maxBody}: ${routeOf(request)}`);
    return payloadTooLarge();
  }

  /**
   * Prepare a request that passed {@linkcode RequestLimits.refuse} for the app.
   *
   * @param request The request.
   * @param watchSignal Whether the copy may read `request.signal` (see `RequestConnection.watchSignal`).
   * @returns The request to hand the app and the race of its answer, or
   * `undefined` when no limit applies to it (the fast path: nothing is copied).
   */
  guard(request: Request, watchSignal = true): Guarded | undefined {
    const { maxBody, requestTimeout } = this.#options;
    // A body with a declared length cannot outgrow it: the runtime's parser frames it.
    const streamed = maxBody > 0 && mayHaveBody(request.method) && request.headers.get("content-length") === null;
    const body = streamed ? request.body : null;
    if (body === null && requestTimeout <= 0) return undefined;

    let overflow = () => {};
    const overflowed = new Promise<void>((resolve) => (overflow = resolve));
    const timedOut = new AbortController();
    const init: RequestInit & { duplex?: "half" } = {};
    if (body !== null) {
      init.body = countBytes(body, maxBody, overflow);
      init.duplex = "half";
    }
    let guarded: Request;
    if (watchSignal) {
      if (requestTimeout > 0) init.signal = AbortSignal.any([request.signal, timedOut.signal]);
      guarded = new Request(request, init);
    } else {
      // Copied from its parts: a Request made from a Request reads its signal.
      init.signal = timedOut.signal;
      init.method = request.method;
      init.headers = request.headers;
      if (body === null && request.body !== null) {
        init.body = request.body;
        init.duplex = "half";
      }
      guarded = new Request(request.url, init);
    }
    const rest = () => (body === null ? Promise.resolve() : linger(body, this.#options.clock));
    return {
      request: guarded,
      settle: (answer) => this.#race(request, answer, { overflowed, rest }, timedOut),
    };
  }

  #race(
    request: Request,
    answer: Promise<Response>,
    body: { overflowed: Promise<void>; rest: () => Promise<void> },
    timedOut: AbortController,
  ): Promise<Settled> {
    const { clock, requestTimeout, maxBody, warn } = this.#options;
    return new Promise((resolve) => {
      let settled = false;
      const claim = () => {
        if (settled) return false;
        settled = true;
        clock.clearTimeout(timer);
        return true;
      };
      const timer = requestTimeout > 0
        ? clock.setTimeout(() => {
          if (!claim()) return;
          warn("request-timeout", `request timed out after ${requestTimeout}ms: ${routeOf(request)}`);
          timedOut.abort(new DOMException(`request timed out after ${requestTimeout}ms`, "TimeoutError"));
          resolve({ response: gatewayTimeout(), limit: "request-timeout" });
        }, requestTimeout)
        : undefined;
      void body.overflowed.then(async () => {
        if (!claim()) return;
        warn("max-body", `request body passed --max-body ${maxBody} while streaming: ${routeOf(request)}`);
        // The rest is read first: a runtime that closes the connection after the answer (the client asked it to)
        // while body bytes are unread sends a reset, and a client still sending then never reads the 413.
        await body.rest();
        resolve({ response: payloadTooLarge(), limit: "max-body" });
      });
      void answer.then((response) => {
        // When rota answered (or will) for the app, the app's late answer is released.
        if (claim()) resolve({ response });
        else response.body?.cancel().catch(() => {});
      });
    });
  }
}

function mayHaveBody(method: string): boolean {
  return method !== "GET" && method !== "HEAD";
}

/**
 * Pass a body through, erroring it once more than `limit` bytes went by. The
 * source is not cancelled there: cancelling it would close the connection on
 * some runtimes before rota's 413 could be sent; `onOverflow` takes it over.
 */
function countBytes(
  source: ReadableStream<Uint8Array>,
  limit: number,
  onOverflow: () => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      seen += value.byteLength;
      if (seen > limit) {
        controller.error(new RotaError("ERR_ROTA_BODY_TOO_LARGE", `request body passed ${limit} bytes`));
        reader.releaseLock();
        onOverflow();
        return;
      }
      controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** How long after a lingering 413 went out rota still reads, before it cancels the body (cutting the connection). */
export const CUT_AFTER_MS = 1000;

/**
 * Read the rest of a body and throw it away, in the manner of the lingering
 * close of nginx and Apache, so that the client reads rota's 413 rather than
 * a reset. Resolves once the body ended or after {@linkcode LINGER_MS}, when
 * the 413 goes out anyway; reading goes on for {@linkcode CUT_AFTER_MS} more
 * (the answer is written meanwhile), then the body is cancelled.
 */
async function linger(source: ReadableStream<Uint8Array>, clock: Clock): Promise<void> {
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = source.getReader();
  } catch {
    return; // Not ours to read: the 413 goes out at once.
  }
  let cut: TimerHandle | undefined;
  let deadline = () => {};
  const passed = new Promise<void>((resolve) => (deadline = resolve));
  const timer = clock.setTimeout(() => {
    deadline();
    cut = clock.setTimeout(() => reader.cancel().catch(() => {}), CUT_AFTER_MS);
  }, LINGER_MS);
  const drained = (async () => {
    try {
      while (!(await reader.read()).done) {
        // Thrown away.
      }
    } catch {
      // Cut by the runtime or by the timer: nothing more to read.
    } finally {
      clock.clearTimeout(timer);
      if (cut !== undefined) clock.clearTimeout(cut);
    }
  })();
  await Promise.race([drained, passed]);
}
