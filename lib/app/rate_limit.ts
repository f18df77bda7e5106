/**
 * A token-bucket rate limiter per key (publisher subject or client address), for this isolate.
 *
 * @module
 */

/**
 * Allows `perSecond` actions per key on average, with bursts up to `perSecond` (0 = unlimited).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RateLimiter } from "./rate_limit.ts";
 * const limiter = new RateLimiter(1);
 * assert.equal(limiter.take("a", 0), 0);
 * assert.equal(limiter.take("a", 0), 1000); // the next token is free in 1 s
 * assert.equal(limiter.take("a", 1000), 0);
 * assert.equal(new RateLimiter(0).take("a"), 0); // 0: no limit
 * ```
 */
export class RateLimiter {
  readonly perSecond: number;
  #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(perSecond: number) {
    this.perSecond = perSecond;
  }

  /**
   * Takes one token for `key`: 0 when allowed, else the milliseconds until a token is free.
   */
  take(key: string, now = performance.now()): number {
    if (this.perSecond <= 0) return 0;
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size > 10_000) this.#sweep(now);
      this.#buckets.set(key, bucket = { tokens: this.perSecond, at: now });
    }
    bucket.tokens = Math.min(
      this.perSecond,
      bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond,
    );
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / this.perSecond) * 1000);
  }

  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.at > 60_000) this.#buckets.delete(key);
    }
  }
}
