/**
 * The availability clock: how long, after the rota first served, no worker at
 * all was ready. This is the seed's stall (requests queued behind a restart)
 * as one number; replacement-first recycling exists to keep it at zero.
 *
 * @module
 */

/** Time with no worker ready, counted from the first moment one was. */
export class AvailabilityClock {
  #everReady = false;
  #since: number | undefined;
  #total = 0;

  /**
   * Record whether any worker is ready now.
   *
   * @param anyReady Whether at least one worker is ready.
   * @param now The time, in milliseconds.
   * @param counting False while starting or stopping: a gap then is no outage.
   */
  update(anyReady: boolean, now: number, counting = true): void {
    if (anyReady) {
      this.#everReady = true;
      if (this.#since !== undefined) this.#total += now - this.#since;
      this.#since = undefined;
    } else if (this.#everReady && this.#since === undefined && counting) {
      this.#since = now;
    }
  }

  /**
   * Stop counting (the rota is stopping): a gap that is open now ends here.
   *
   * @param now The time, in milliseconds.
   */
  stop(now: number): void {
    if (this.#since !== undefined) this.#total += now - this.#since;
    this.#since = undefined;
    this.#everReady = false;
  }

  /**
   * Milliseconds with no worker ready so far, including a gap open now.
   *
   * @param now The time, in milliseconds.
   * @returns Rounded milliseconds.
   */
  total(now: number): number {
    return Math.round(this.#total + (this.#since === undefined ? 0 : now - this.#since));
  }
}
