/**
 * The contract shared by the demo feeds: each feed is an async generator of {@link FeedEvent}s
 * that knows nothing about HTTP, KV or SSE, waits only through abortable sleeps, and returns
 * promptly when its signal aborts.
 *
 * @module
 */

/** One event of a feed: an SSE event type and a JSON-serialisable payload. */
export interface FeedEvent {
  /** Event type, e.g. `"tick"` or `"price_update"`. */
  type: string;
  /** The payload; times in it are ISO 8601 strings. */
  data: Record<string, unknown>;
  /** Set on the last event of a finite feed (an order, a game). */
  final?: boolean;
}

/** Options every feed accepts. */
export interface FeedOptions {
  /** Aborting it makes the generator return promptly, even in the middle of a wait. */
  signal: AbortSignal;
  /** Time multiplier: 1 = real time, 10 = ten times faster. Default 1. */
  speed?: number;
  /** Source of uniform numbers in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Current time in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** A feed: a function from options to an async generator of events. */
export type Feed = (options: FeedOptions) => AsyncGenerator<FeedEvent>;

/**
 * A small deterministic PRNG (mulberry32) returning numbers in [0, 1); the same seed gives the
 * same sequence, which makes simulated feeds reproducible in tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRandom } from "./feed.ts";
 * const a = seededRandom(42);
 * const b = seededRandom(42);
 * assert.equal(a(), b());
 * assert.equal(a(), b());
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Turns a duration in feed time into real milliseconds for the given speed (default 1).
 * Throws a `RangeError` when the speed is not a positive finite number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scaledMs } from "./feed.ts";
 * assert.equal(scaledMs(1000, 10), 100);
 * assert.equal(scaledMs(1000), 1000);
 * ```
 */
export function scaledMs(ms: number, speed = 1): number {
  if (!Number.isFinite(speed) || speed <= 0) {
    throw new RangeError(`feed speed must be a positive number, got ${speed}`);
  }
  return ms / speed;
}

/**
 * Formats epoch milliseconds as an ISO 8601 string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isoTime } from "./feed.ts";
 * assert.equal(isoTime(0), "1970-01-01T00:00:00.000Z");
 * ```
 */
export function isoTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/**
 * Rounds to a number of decimals (default 1), e.g. for percentages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roundTo } from "./feed.ts";
 * assert.equal(roundTo(12.345, 2), 12.35);
 * assert.equal(roundTo(12.34), 12.3);
 * ```
 */
export function roundTo(value: number, decimals = 1): number {
  const magnitude = Math.abs(value);
  // Shifting through the decimal exponent avoids binary artefacts (1.005 → 1.01, not 1); halves
  // round away from zero.
  const shifted = String(magnitude).includes("e")
    ? magnitude * 10 ** decimals
    : Number(`${magnitude}e${decimals}`);
  const rounded = Math.round(shifted) / 10 ** decimals;
  return value < 0 && rounded !== 0 ? -rounded : rounded;
}
