/**
 * The publish rate limit (`TIDINGS_PUBLISH_RATE`): at most N publishes per publisher (its token's
 * `sub`, else its address) in each clock second, counted in the hub's shared records, so the limit
 * holds exactly however many isolates, processes or nodes serve the publisher.
 *
 * Publishes of one publisher arriving together in one isolate share one counter update; once a
 * publisher's second is used up, this isolate refuses it from memory until the second ends.
 *
 * @module
 */

import type { RecordStore } from "../hub/mod.ts";
import { Deadlines } from "../util/deadlines.ts";

interface Waiter {
  resolve: (retryAfterMs: number) => void;
  reject: (error: unknown) => void;
}

interface Lane {
  window: number;
  waiting: Waiter[];
  flushing: boolean;
}

/** Publishers remembered as over their rate, per isolate. */
const MAX_REMEMBERED = 10_000;

/**
 * A fixed-window rate limit per key, shared through records (`perSecond` 0 = no limit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PublishRateLimit } from "./rate_limit.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const now = () => 5_000_250; // a quarter into a second
 * const one = new PublishRateLimit(transport.records, 2, now);
 * const other = new PublishRateLimit(transport.records, 2, now); // another isolate
 * const waits = await Promise.all([one.take("ann"), other.take("ann"), one.take("ann")]);
 * assert.deepEqual(waits.toSorted(), [0, 0, 750]); // two admitted, one told to wait 750 ms
 * assert.equal(await one.take("bo"), 0); // each publisher has its own count
 * assert.equal(await new PublishRateLimit(transport.records, 0).take("ann"), 0);
 * transport.close();
 * ```
 */
export class PublishRateLimit {
  readonly perSecond: number;
  readonly #records: RecordStore | undefined;
  readonly #now: () => number;
  readonly #lanes = new Map<string, Lane>();
  /** Per publisher over its rate: the end of its second. */
  readonly #exhausted: Deadlines;

  constructor(records: RecordStore | undefined, perSecond: number, now: () => number = Date.now) {
    this.#records = records;
    this.perSecond = perSecond;
    this.#now = now;
    this.#exhausted = new Deadlines(MAX_REMEMBERED, now);
  }

  /** Counts one publish of `key`: 0 when allowed, else the milliseconds until its next second. */
  take(key: string): Promise<number> {
    if (this.perSecond <= 0 || !this.#records) return Promise.resolve(0);
    const now = this.#now();
    const window = Math.floor(now / 1000);
    const wait = this.#exhausted.remaining(key);
    if (wait !== undefined) return Promise.resolve(wait);
    let lane = this.#lanes.get(key);
    if (!lane || (lane.window !== window && !lane.flushing)) {
      lane = { window, waiting: [], flushing: false };
      this.#lanes.set(key, lane);
    }
    const taken = new Promise<number>((resolve, reject) => lane.waiting.push({ resolve, reject }));
    if (!lane.flushing) {
      lane.flushing = true;
      queueMicrotask(() => void this.#flush(key, lane));
    }
    return taken;
  }

  async #flush(key: string, lane: Lane): Promise<void> {
    while (lane.waiting.length > 0) {
      const waiting = lane.waiting;
      lane.waiting = [];
      const now = this.#now();
      const window = Math.floor(now / 1000);
      const end = (window + 1) * 1000;
      try {
        const total = await this.#records!.add(["rate", "publish", key, window], waiting.length, {
          expireInMs: 10_000,
        });
        const before = total - waiting.length;
        const allowed = Math.max(0, Math.min(waiting.length, this.perSecond - before));
        if (total >= this.perSecond) this.#exhausted.remember(key, end);
        const retryAfterMs = Math.max(1, end - this.#now());
        waiting.forEach((waiter, index) => waiter.resolve(index < allowed ? 0 : retryAfterMs));
      } catch (error) {
        for (const waiter of waiting) waiter.reject(error);
      }
    }
    lane.flushing = false;
    if (this.#lanes.get(key) === lane) this.#lanes.delete(key);
  }
}
