/**
 * Waits that end when an `AbortSignal` fires, so no stream generator is ever parked on a promise
 * that never settles.
 *
 * @module
 */

/**
 * Resolves after `ms` milliseconds, or at once (to `false`) when `signal` aborts.
 * Resolves to `true` when the full time elapsed. Never rejects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./abortable.ts";
 * const controller = new AbortController();
 * const done = sleep(60_000, controller.signal);
 * controller.abort();
 * assert.equal(await done, false);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Races `promise` against `signal`: resolves to the promise's value, or to `undefined` once the
 * signal aborts. A rejection of `promise` is passed on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { abortable } from "./abortable.ts";
 * const controller = new AbortController();
 * const never = new Promise<number>(() => {});
 * const result = abortable(never, controller.signal);
 * controller.abort();
 * assert.equal(await result, undefined);
 * ```
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/**
 * A one-shot wake-up flag: `wait()` resolves at the next `notify()` or when the signal aborts.
 * A notify that comes while nobody waits is remembered, so no wake-up is lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Notifier } from "./abortable.ts";
 * const notifier = new Notifier();
 * notifier.notify();
 * assert.equal(await notifier.wait(AbortSignal.timeout(1000)), true);
 * ```
 */
export class Notifier {
  #pending = false;
  #resolve: ((woken: boolean) => void) | undefined;

  /**
   * Wakes the current waiter, or the next one.
   */
  notify(): void {
    const resolve = this.#resolve;
    if (resolve) {
      this.#resolve = undefined;
      resolve(true);
    } else {
      this.#pending = true;
    }
  }

  /**
   * Resolves to `true` when notified, `false` when the signal aborted first.
   */
  wait(signal: AbortSignal): Promise<boolean> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve(true);
    }
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#resolve = undefined;
        resolve(false);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#resolve = (woken) => {
        signal.removeEventListener("abort", onAbort);
        resolve(woken);
      };
    });
  }
}
