// @ts-check
/**
 * How long the client waits before reconnecting: exponential backoff with full jitter, or the
 * hub's `Retry-After`.
 *
 * @module
 */

/** The longest `Retry-After` the client honours. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * The wait before a reconnection: "full jitter", uniformly random in
 * `[0, min(maxMs, baseMs · 2^attempt))` (`attempt` 0 is the first retry after a good connection).
 * A hub's `Retry-After` wins: that wait (at most 5 minutes) plus a random part of `baseMs`, so
 * clients told the same time do not all return at once.
 *
 * @param {{ attempt: number, baseMs: number, maxMs: number, retryAfterMs?: number,
 *   random?: () => number }} options
 * @returns {number} milliseconds
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reconnectDelay } from "./backoff.js";
 * const delay = reconnectDelay({ attempt: 3, baseMs: 500, maxMs: 30_000, random: () => 0.5 });
 * assert.equal(delay, 2000);
 * ```
 */
export function reconnectDelay({ attempt, baseMs, maxMs, retryAfterMs, random = Math.random }) {
  if (retryAfterMs !== undefined) {
    return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) + random() * Math.min(baseMs, maxMs);
  }
  return random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 40));
}
