// @ts-check
/**
 * Errors of the tidings client: why a subscription stopped for good or why one attempt failed, and
 * how a listener's exception is reported without breaking delivery.
 *
 * @module
 */

/**
 * Why a subscription stopped for good, or why an attempt failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SubscriptionError } from "./errors.js";
 * const error = new SubscriptionError("the hub answered 401: invalid token", { status: 401 });
 * assert.deepEqual([error.name, error.status, error.message], [
 *   "SubscriptionError",
 *   401,
 *   "the hub answered 401: invalid token",
 * ]);
 * ```
 */
export class SubscriptionError extends Error {
  /**
   * An error with the hub's status and reason, when it gave them.
   *
   * @param {string} message
   * @param {{ status?: number, reason?: string, cause?: unknown }} [details]
   */
  constructor(message, details = {}) {
    super(message, { cause: details.cause });
    this.name = "SubscriptionError";
    /** The HTTP status the hub answered, if any. */
    this.status = details.status;
    /** The hub's reason (response body or `X-Tidings-Refusal`), if any. */
    this.reason = details.reason;
  }
}

/**
 * The message of anything thrown.
 *
 * @param {unknown} error
 * @returns {string}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { messageOf } from "./errors.js";
 * assert.equal(messageOf(new TypeError("refused")), "refused");
 * assert.equal(messageOf("plain"), "plain");
 * ```
 */
export function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reports a listener's exception on its own (`reportError`, else an uncaught throw in a later
 * task), so it does not break delivery to the other listeners.
 *
 * @param {unknown} error
 */
export function reportLater(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else {setTimeout(() => {
      throw error;
    });}
}
