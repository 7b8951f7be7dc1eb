/**
 * The peers gate: every serving worker is told how many other workers are
 * ready, and one whose init has not succeeded accepts connections only while
 * none is, so that a broken or still-initialising worker never takes traffic
 * from a ready one. A new worker hears the same count in its spec; a change
 * is told to every worker at once, and only a change.
 *
 * @module
 */

import type { Slot } from "./succession.ts";
import { isServing, type WorkerRecord } from "./worker_record.ts";

/** Options for {@linkcode Peers}. */
export interface PeersOptions {
  /** The rota's slots, by index. */
  slots: readonly Slot[];
  /** Every live worker. */
  live: ReadonlySet<WorkerRecord>;
}

/**
 * How many ready peers each worker has, told to the workers.
 *
 * @example
 * ```ts
 * const peers = new Peers({ slots, live });
 * peers.tell(); // every serving worker hears its count, when one changed
 * ```
 */
export class Peers {
  #slots: readonly Slot[];
  #live: ReadonlySet<WorkerRecord>;
  /** What the workers were last told of their ready peers (a key, to tell only changes). */
  #told = "";

  /** @param options The slots and the live workers. */
  constructor(options: PeersOptions) {
    const { slots, live } = options;
    this.#slots = slots;
    this.#live = live;
  }

  /**
   * Workers ready now.
   *
   * @returns How many live workers are ready.
   */
  ready(): number {
    let ready = 0;
    for (const worker of this.#live) if (worker.state.kind === "ready") ready++;
    return ready;
  }

  /**
   * How many ready workers count as peers for a worker of `slot`: every ready
   * worker but itself, and for the replacement of an urgent slot not the
   * worker it replaces either (that one must stop taking connections now, so
   * its replacement accepts at once instead of after its init).
   *
   * @param slot The worker's slot.
   * @param incoming Whether it is (or will be) the slot's replacement.
   * @param self The worker itself, once it exists.
   * @returns The count it is told.
   */
  countFor(slot: Slot, incoming: boolean, self?: WorkerRecord): number {
    let ready = 0;
    for (const worker of this.#live) {
      if (worker === self || worker.state.kind !== "ready") continue;
      if (incoming && slot.urgent && worker === slot.active) continue;
      ready++;
    }
    return ready;
  }

  /** Tell every serving worker how many others are ready, when that (or a slot's urgency) changed. */
  tell(): void {
    const told = `${this.ready()} ${this.#slots.map((slot) => slot.urgent).join()}`;
    if (told === this.#told) return;
    this.#told = told;
    for (const worker of this.#live) {
      if (!isServing(worker.state)) continue;
      const slot = this.#slots[worker.slot];
      worker.send({ rota: 1, type: "peers", ready: this.countFor(slot, slot.incoming === worker, worker) });
    }
  }
}
