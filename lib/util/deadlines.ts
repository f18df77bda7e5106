/**
 * Keys remembered until a deadline, bounded in number: "this client is over its rate until the
 * end of its window", kept in memory so a flood of refusals costs no store work. Past the bound,
 * lapsed keys are swept; if none lapsed, a new key is not remembered (the store is asked again).
 *
 * @module
 */

/**
 * A bounded map from keys to deadlines (ms on `now`'s clock).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Deadlines } from "./deadlines.ts";
 * let now = 1_000;
 * const over = new Deadlines(2, () => now);
 * over.remember("ann", 1_500);
 * assert.equal(over.remaining("ann"), 500);
 * now = 1_600;
 * assert.equal(over.remaining("ann"), undefined); // lapsed
 * ```
 */
export class Deadlines {
  readonly #bound: number;
  readonly #now: () => number;
  readonly #until = new Map<string, number>();

  constructor(bound: number, now: () => number = Date.now) {
    this.#bound = bound;
    this.#now = now;
  }

  /** Remembers `key` until `until`. */
  remember(key: string, until: number): void {
    if (this.#until.size >= this.#bound && !this.#until.has(key)) {
      const now = this.#now();
      for (const [known, end] of this.#until) if (end <= now) this.#until.delete(known);
      if (this.#until.size >= this.#bound) return;
    }
    this.#until.set(key, until);
  }

  /** Milliseconds until `key`'s deadline, or `undefined` when it has none (or it lapsed). */
  remaining(key: string): number | undefined {
    const until = this.#until.get(key);
    if (until === undefined) return undefined;
    const left = until - this.#now();
    if (left > 0) return left;
    this.#until.delete(key);
    return undefined;
  }

  /** Forgets `key`. */
  forget(key: string): void {
    this.#until.delete(key);
  }
}
