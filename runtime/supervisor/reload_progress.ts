/**
 * How far a rolling reload has come. A reload is over once every slot runs a
 * worker started after it began (ready, or failing its init, which the new
 * code may well do), or once the slot's replacement failed (its old worker
 * keeps serving and the replacement is retried later, so the reload is over
 * as far as an operator waiting for it is concerned). systemd's `READY=1`
 * after `RELOADING=1`, and `rota reload`'s answer, wait for this.
 *
 * @module
 */

/** Where a reload stands. */
export type ReloadState =
  | { readonly kind: "idle" }
  /** `from`: the first generation each pending slot's new worker may have; `failed`: slots settled by a failure. */
  | { readonly kind: "running"; readonly from: ReadonlyMap<number, number>; readonly failed: readonly number[] };

/** A reload's progress, slot by slot. */
export class ReloadProgress {
  #state: ReloadState = { kind: "idle" };

  /** Where the reload stands. */
  get state(): ReloadState {
    return this.#state;
  }

  /**
   * A reload begins (or begins again: the slots still pending, and every
   * other, wait for workers started from now).
   *
   * @param slots Each slot and the generation its next worker will get.
   */
  begin(slots: ReadonlyArray<{ readonly index: number; readonly nextGeneration: number }>): void {
    this.#state = {
      kind: "running",
      from: new Map(slots.map((slot) => [slot.index, slot.nextGeneration])),
      failed: [],
    };
  }

  /**
   * A slot's worker of generation `generation` is serving (ready or failing)
   * or its replacement failed.
   *
   * @param slot The slot.
   * @param generation The worker's generation.
   * @param outcome `serving` or `failed`.
   * @returns The slots that failed, once this settled the whole reload; else `undefined`.
   */
  settle(slot: number, generation: number, outcome: "serving" | "failed"): readonly number[] | undefined {
    const state = this.#state;
    if (state.kind !== "running") return undefined;
    const from = state.from.get(slot);
    if (from === undefined || generation < from) return undefined;
    const pending = new Map(state.from);
    pending.delete(slot);
    const failed = outcome === "failed" ? [...state.failed, slot] : state.failed;
    if (pending.size > 0) {
      this.#state = { kind: "running", from: pending, failed };
      return undefined;
    }
    this.#state = { kind: "idle" };
    return failed.toSorted((a, b) => a - b);
  }

  /** Forget the reload (the rota stops). */
  cancel(): void {
    this.#state = { kind: "idle" };
  }
}
