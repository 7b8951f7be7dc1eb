/**
 * systemd's notify protocol for `Type=notify` services, as rota speaks it:
 * `READY=1` once every slot has a ready or failing worker, `RELOADING=1` then
 * `READY=1` around a rolling reload, `STOPPING=1` at shutdown, `WATCHDOG=1`
 * at half of `WATCHDOG_USEC` while the supervisor's loop turns, `STATUS=`
 * with a one-line summary, and `MAINPID=` with the first `READY=1`. The
 * transport is the host's (`OpsHost.notify`).
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import type { RotaSnapshot } from "./snapshot.ts";
import { countByState } from "./snapshot.ts";

/** Where notifications go, from `$NOTIFY_SOCKET`. */
export type NotifyTarget =
  | { readonly kind: "none" }
  | { readonly kind: "path"; readonly path: string }
  | { readonly kind: "abstract"; readonly name: string }
  | { readonly kind: "unsupported"; readonly value: string };

/**
 * Read `$NOTIFY_SOCKET`: an absolute path, or `@name` for Linux's abstract
 * namespace (`sd_notify(3)`); anything else (`vsock:…`) rota does not speak.
 *
 * @param env The environment.
 * @returns The target.
 */
export function notifyTarget(env: Readonly<Record<string, string | undefined>>): NotifyTarget {
  const value = env.NOTIFY_SOCKET;
  if (value === undefined || value === "") return { kind: "none" };
  if (value.startsWith("/")) return { kind: "path", path: value };
  if (value.startsWith("@") && value.length > 1) return { kind: "abstract", name: value.slice(1) };
  return { kind: "unsupported", value };
}

/**
 * How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as `sd_watchdog_enabled(3)`
 * recommends, when the watchdog is meant for this process (`WATCHDOG_PID` unset or ours).
 *
 * @param env The environment.
 * @param pid This process's id.
 * @returns Milliseconds, or `undefined` when no watchdog is asked for.
 */
export function watchdogInterval(env: Readonly<Record<string, string | undefined>>, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== "" && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/**
 * The `STATUS=` line: what `systemctl status` shows under the unit.
 *
 * @param snapshot The rota now.
 * @returns One line, e.g. `2 of 2 workers ready, 1234 requests, config v4, 0 crashes`.
 */
export function statusLine(snapshot: RotaSnapshot): string {
  const live = snapshot.workers.filter((worker) => worker.state !== "exited");
  const byState = countByState(live);
  const slots = new Set(live.map((worker) => worker.slot)).size;
  const requests = snapshot.workers.reduce((sum, worker) => sum + worker.requests, 0);
  const parts = [`${byState.ready} of ${slots} workers ready`];
  if (byState.failing > 0) parts.push(`${byState.failing} failing init`);
  if (byState.starting > 0) parts.push(`${byState.starting} starting`);
  if (byState.draining > 0) parts.push(`${byState.draining} draining`);
  parts.push(`${requests} requests`, `config v${snapshot.configVersion}`);
  parts.push(`${snapshot.counters.crashes} crash${snapshot.counters.crashes === 1 ? "" : "es"}`);
  if (snapshot.phase === "stopping") parts.unshift("stopping");
  return parts.join(", ");
}

/**
 * Build one notify datagram's text.
 *
 * @param fields Assignments in order; a value's line breaks become spaces (a
 * datagram is newline-separated `KEY=VALUE` lines).
 * @returns E.g. `READY=1\nSTATUS=…`.
 */
export function notifyState(fields: ReadonlyArray<readonly [string, string | number]>): string {
  return fields.map(([key, value]) => `${key}=${String(value).replace(/[\r\n]+/g, " ")}`).join("\n");
}

/** Options for {@linkcode SystemdNotifier}. */
export interface SystemdNotifierOptions {
  /** The environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The supervisor's pid, sent as `MAINPID=`. */
  readonly pid: number;
  /** Delivers one state (`OpsHost.notify`). */
  readonly send: (state: string) => Promise<void>;
  /** Timers for the watchdog. */
  readonly clock: Clock;
  /** Told once when delivery fails; later failures are silent. */
  readonly warn: (message: string) => void;
}

/**
 * Tells systemd what the supervisor does. States go out one at a time, in
 * order; after the first failed delivery, one warning and no more attempts.
 * Without `$NOTIFY_SOCKET` every method does nothing.
 */
export class SystemdNotifier {
  readonly #options: SystemdNotifierOptions;
  readonly #target: NotifyTarget;
  #queue: Promise<void> = Promise.resolve();
  #broken = false;
  #announced = false;
  #watchdog: TimerHandle | undefined;

  /** @param options Environment, transport, clock and warning sink. */
  constructor(options: SystemdNotifierOptions) {
    this.#options = options;
    this.#target = notifyTarget(options.env);
  }

  /** Whether systemd asked for notifications and they still work. */
  get enabled(): boolean {
    return (this.#target.kind === "path" || this.#target.kind === "abstract") && !this.#broken;
  }

  /**
   * Every slot has a worker that is ready or failing (or a reload finished).
   * The first call also sends `MAINPID=` and starts the watchdog.
   *
   * @param status The `STATUS=` line.
   * @returns When systemd has it (or delivery failed).
   */
  ready(status: string): Promise<void> {
    const fields: Array<[string, string | number]> = [["READY", 1], ["STATUS", status]];
    if (!this.#announced) fields.push(["MAINPID", this.#options.pid]);
    this.#announced = true;
    const sent = this.#send(fields);
    this.#startWatchdog();
    return sent;
  }

  /**
   * A rolling reload started; `ready()` ends it.
   *
   * @param status The `STATUS=` line.
   * @param monotonicUsec `CLOCK_MONOTONIC` now, in microseconds, sent as
   * `MONOTONIC_USEC=` (systemd ≥ 253 matches it against the reload it asked
   * for, `Type=notify-reload`); left out when unknown.
   * @returns When systemd has it.
   */
  reloading(status: string, monotonicUsec?: bigint): Promise<void> {
    const fields: Array<[string, string | number]> = [["RELOADING", 1], ["STATUS", status]];
    if (monotonicUsec !== undefined) fields.push(["MONOTONIC_USEC", String(monotonicUsec)]);
    return this.#send(fields);
  }

  /**
   * Shutdown started; stops the watchdog.
   *
   * @param status The `STATUS=` line.
   * @returns When systemd has it.
   */
  stopping(status: string): Promise<void> {
    this.#stopWatchdog();
    return this.#send([["STOPPING", 1], ["STATUS", status]]);
  }

  /**
   * A new `STATUS=` line alone.
   *
   * @param status The line.
   * @returns When systemd has it.
   */
  status(status: string): Promise<void> {
    return this.#send([["STATUS", status]]);
  }

  /**
   * Stop the watchdog timer; idempotent.
   *
   * @returns When every state sent so far was delivered (or failed), so that
   * a process about to exit does not cut its last `STOPPING=1` short.
   */
  close(): Promise<void> {
    this.#stopWatchdog();
    return this.#queue;
  }

  #startWatchdog(): void {
    if (this.#watchdog !== undefined || !this.enabled) return;
    const every = watchdogInterval(this.#options.env, this.#options.pid);
    if (every === undefined) return;
    const beat = () => {
      this.#watchdog = this.#options.clock.setTimeout(beat, every);
      void this.#send([["WATCHDOG", 1]]);
    };
    this.#watchdog = this.#options.clock.setTimeout(beat, every);
  }

  #stopWatchdog(): void {
    if (this.#watchdog === undefined) return;
    this.#options.clock.clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }

  #send(fields: ReadonlyArray<readonly [string, string | number]>): Promise<void> {
    if (!this.enabled) {
      if (this.#target.kind === "unsupported" && !this.#broken) {
        this.#broken = true;
        this.#options.warn(
          `NOTIFY_SOCKET=${this.#target.value} is neither a path nor @abstract: not telling systemd anything`,
        );
      }
      return Promise.resolve();
    }
    const state = notifyState(fields);
    this.#queue = this.#queue.then(async () => {
      if (this.#broken) return;
      try {
        await this.#options.send(state);
      } catch (error) {
        this.#broken = true;
        this.#stopWatchdog();
        this.#options.warn(
          `cannot notify systemd (${
            error instanceof Error ? error.message : String(error)
          }): not telling it anything more`,
        );
      }
    });
    return this.#queue;
  }
}
