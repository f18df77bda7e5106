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
 * import { wait } from "./abortable.js";
 * await wait(60_000, AbortSignal.abort()); // resolves at once
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
 * import { abortable } from "./abortable.js";
 * const never = new Promise<string>(() => {});
 * console.assert(await abortable(never, AbortSignal.abort()) === undefined);
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
 * import { withTimeout } from "./abortable.js";
 * console.assert(await withTimeout(new Promise(() => {}), 10) === undefined);
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
 * import { Connection } from "./abortable.js";
 * const subscription = new AbortController();
 * const connection = new Connection(subscription.signal);
 * subscription.abort();
 * console.assert(connection.signal.aborted);
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
   * @example
   * ```ts
   * import { Connection } from "./abortable.js";
   * const connection = new Connection(new AbortController().signal);
   * connection.release();
   * ```
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
   * @example
   * ```ts
   * import { Connection } from "./abortable.js";
   * const connection = new Connection(new AbortController().signal);
   * console.assert(!connection.signal.aborted);
   * connection.release();
   * ```
   */
  get signal() {
    return this.#controller.signal;
  }

  /**
   * Ends this connection (not the subscription).
   *
   * @example
   * ```ts
   * import { Connection } from "./abortable.js";
   * const connection = new Connection(new AbortController().signal);
   * connection.abort();
   * console.assert(connection.signal.aborted && !connection.onPurpose);
   * connection.release();
   * ```
   */
  abort() {
    this.#controller.abort();
  }

  /**
   * Ends this connection because the client wants a new one.
   *
   * @example
   * ```ts
   * import { Connection } from "./abortable.js";
   * const connection = new Connection(new AbortController().signal);
   * connection.endOnPurpose();
   * console.assert(connection.signal.aborted && connection.onPurpose);
   * connection.release();
   * ```
   */
  endOnPurpose() {
    this.onPurpose = true;
    this.#controller.abort();
  }

  /**
   * Stops listening to the subscription's signal: call it when the connection is over.
   *
   * @example
   * ```ts
   * import { Connection } from "./abortable.js";
   * new Connection(new AbortController().signal).release();
   * ```
   */
  release() {
    this.#parent.removeEventListener("abort", this.#onParentAbort);
  }
}
