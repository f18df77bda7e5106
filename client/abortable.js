// @ts-check
/**
 * Waits that end when a signal aborts, and one connection's signal tied to its subscription's.
 *
 * @module
 */

/**
 * Resolves after `ms`, or at once when `signal` aborts.
 *
 * @param {number} ms
 * @param {AbortSignal} signal
 * @returns {Promise<void>}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wait } from "./abortable.js";
 * const started = performance.now();
 * await wait(60_000, AbortSignal.abort()); // an aborted signal: resolves at once
 * assert.equal(performance.now() - started < 60_000, true);
 * ```
 */
export function wait(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The promise's value, or `undefined` once `signal` aborts.
 *
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal} signal
 * @returns {Promise<T | undefined>}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { abortable } from "./abortable.js";
 * const never = new Promise<string>(() => {});
 * assert.equal(await abortable(never, AbortSignal.abort()), undefined);
 * ```
 */
export function abortable(promise, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(undefined);
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The promise's value, or `undefined` after `ms`.
 *
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T | undefined>}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withTimeout } from "./abortable.js";
 * assert.equal(await withTimeout(new Promise(() => {}), 10), undefined);
 * ```
 */
export function withTimeout(promise, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((resolve) => timer = setTimeout(() => resolve(undefined), ms));
  return /** @type {Promise<T | undefined>} */ (Promise.race([promise, timeout]))
    .finally(() => clearTimeout(timer));
}

/**
 * One connection's abort signal, tied to the subscription's: it aborts when the subscription
 * closes, or alone (a dead stream, a planned reconnection).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Connection } from "./abortable.js";
 * const subscription = new AbortController();
 * const connection = new Connection(subscription.signal);
 * subscription.abort(); // closing the subscription aborts its connection
 * assert.deepEqual([connection.signal.aborted, connection.onPurpose], [true, false]);
 * connection.release();
 * ```
 */
export class Connection {
  #controller = new AbortController();
  #parent;
  #onParentAbort = () => this.#controller.abort();
  /** The client ended this connection on purpose (token refresh, return to SSE). */
  onPurpose = false;

  /**
   * @param {AbortSignal} parent the subscription's signal
   */
  constructor(parent) {
    this.#parent = parent;
    if (parent.aborted) this.#controller.abort();
    else parent.addEventListener("abort", this.#onParentAbort, { once: true });
  }

  /**
   * Aborts when this connection must end.
   *
   * @returns {AbortSignal}
   */
  get signal() {
    return this.#controller.signal;
  }

  /**
   * Ends this connection (not the subscription).
   */
  abort() {
    this.#controller.abort();
  }

  /**
   * Ends this connection because the client wants a new one.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Connection } from "./abortable.js";
   * const connection = new Connection(new AbortController().signal);
   * connection.endOnPurpose();
   * assert.deepEqual([connection.signal.aborted, connection.onPurpose], [true, true]);
   * connection.release();
   * ```
   */
  endOnPurpose() {
    this.onPurpose = true;
    this.#controller.abort();
  }

  /**
   * Stops listening to the subscription's signal: call it when the connection is over.
   */
  release() {
    this.#parent.removeEventListener("abort", this.#onParentAbort);
  }
}
