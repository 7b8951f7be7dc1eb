/**
 * The worker's server, switched on and off: it listens the first time it is
 * wanted, pauses (stops accepting, keeps its open connections) when it is not,
 * and resumes when it is wanted again. Changes run one at a time, in order, and
 * each is reported once done.
 *
 * A worker accepts connections only while its init has succeeded, unless no
 * other worker of the rota is ready: a broken or still-initialising worker
 * never takes new connections from a ready one (as Kubernetes readiness does
 * for pods, per worker within one host), and when nobody is ready every
 * worker accepts so that clients get 503 and `Retry-After` rather than a
 * refused connection.
 *
 * @module
 */

import type { Listener, ListenOptions, WorkerHost } from "../host.ts";

/**
 * Whether a worker should accept connections.
 *
 * @param initialised Whether its init has succeeded.
 * @param peersReady How many other workers are ready.
 * @returns True when it should.
 * @example
 * ```ts
 * shouldAccept(false, 0); // true: nobody else serves
 * shouldAccept(false, 2); // false: leave the traffic to the ready ones
 * ```
 */
export function shouldAccept(initialised: boolean, peersReady: number): boolean {
  return initialised || peersReady === 0;
}

/** What the switch reports after each change. */
export type SwitchEvent = "listening" | "paused";

/** The worker's server, listened, paused and resumed on demand. */
export class ServerSwitch {
  #host: Pick<WorkerHost, "listen">;
  #options: ListenOptions;
  #onChange: (event: SwitchEvent) => void;
  #beforeListen: () => Promise<void>;
  #listener: Listener | undefined;
  #accepting = false;
  #wanted = false;
  #closed = false;
  #queue: Promise<void> = Promise.resolve();

  /**
   * @param host Where to listen.
   * @param options Address and request handler.
   * @param events `onChange`: called once the server listens, or once it
   * paused; `beforeListen`: awaited before each listen (the worker asks its
   * supervisor to hold messages meanwhile).
   */
  constructor(
    host: Pick<WorkerHost, "listen">,
    options: ListenOptions,
    events: { onChange: (event: SwitchEvent) => void; beforeListen?: () => Promise<void> },
  ) {
    this.#host = host;
    this.#options = options;
    this.#onChange = events.onChange;
    this.#beforeListen = events.beforeListen ?? (() => Promise.resolve());
  }

  /** The listener, once the server has listened at least once. */
  get listener(): Listener | undefined {
    return this.#listener;
  }

  /** Whether the server accepts connections now. */
  get accepting(): boolean {
    return this.#accepting;
  }

  /**
   * Ask for the server on or off. Changes apply in order; the last wish wins.
   *
   * @param accept Whether to accept connections.
   * @returns Once this wish is applied.
   * @throws {RotaError} `ERR_ROTA_LISTEN` when the address cannot be bound.
   */
  want(accept: boolean): Promise<void> {
    this.#wanted = accept;
    const turn = this.#queue.then(() => this.#apply());
    this.#queue = turn.catch(() => {});
    return turn;
  }

  /**
   * No more changes: what follows is the drain.
   *
   * @returns The listener once a change under way is done, or `undefined` when the server never listened.
   */
  async close(): Promise<Listener | undefined> {
    this.#closed = true;
    await this.#queue;
    return this.#listener;
  }

  async #apply(): Promise<void> {
    if (this.#closed) return;
    const wanted = this.#wanted;
    if (wanted === this.#accepting) return;
    if (wanted) {
      await this.#beforeListen();
      if (this.#closed) return;
      if (this.#listener) await this.#listener.resume();
      else this.#listener = await this.#host.listen(this.#options);
      this.#accepting = true;
      if (!this.#closed) this.#onChange("listening");
    } else {
      await this.#listener!.pause();
      this.#accepting = false;
      if (!this.#closed) this.#onChange("paused");
    }
  }
}
