/**
 * What the supervisor tells those who operate it (the systemd notifier, the
 * control socket): the rota's lifecycle, as one closed union of events, and
 * the set of listeners that hear them. Each listener added returns its own
 * removal.
 *
 * @module
 */

/** A turn in the rota's life. */
export type RotaLifecycle =
  /** Every slot has a worker that is ready or failing, and the port accepts connections. */
  | { readonly type: "started"; readonly ready: number; readonly workers: number }
  /** A rolling reload began (SIGHUP, `rota reload`, `server.reload()`). */
  | { readonly type: "reloading" }
  /**
   * The rolling reload is over: every slot runs a worker started after it
   * began, or its replacement failed once (`failed`: those slots, whose old
   * worker keeps serving while the replacement is retried).
   */
  | { readonly type: "reloaded"; readonly failed: readonly number[] }
  /** The stop began; for `delayMs` the workers keep serving while readiness answers 503. */
  | { readonly type: "stopping"; readonly delayMs: number }
  /** Every worker is gone. */
  | { readonly type: "stopped"; readonly code: number };

/** A listener of one kind of event. */
export type Listener<E> = (event: E) => void;

/**
 * Listeners of one kind of event. A listener that throws does not keep the
 * others from hearing the event.
 *
 * @example
 * ```ts
 * const lifecycle = new Listeners<RotaLifecycle>((error) => log.error(String(error)));
 * const remove = lifecycle.add((event) => console.log(event.type));
 * lifecycle.emit({ type: "reloading" });
 * remove();
 * ```
 */
export class Listeners<E> {
  #listeners = new Set<Listener<E>>();
  #onError: (error: unknown) => void;

  /** @param onError Told when a listener throws. */
  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /**
   * Add a listener.
   *
   * @param listener Called with every event from now on.
   * @returns Its removal.
   */
  add(listener: Listener<E>): () => void {
    // A wrapper, so that adding the same function twice gives two independent removals.
    const entry: Listener<E> = (event) => listener(event);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  /**
   * Tell every listener.
   *
   * @param event The event.
   */
  emit(event: E): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error);
      }
    }
  }
}
