/**
 * A fixed-size latency histogram (log-linear buckets, about 1.5 % relative precision) that costs
 * one array increment per sample and merges across processes as a sparse list of counts.
 *
 * @module
 */

const SUB_BUCKETS = 64;
const SUB_BITS = 6;
const EXPONENTS = 40;

/** A histogram as sent between processes: `[bucketIndex, count]` pairs plus exact extremes. */
export interface HistogramSnapshot {
  buckets: Array<[number, number]>;
  count: number;
  maxMs: number;
}

function bucketOf(microseconds: number): number {
  if (microseconds < SUB_BUCKETS) return microseconds < 0 ? 0 : microseconds | 0;
  const exponent = 31 - Math.clz32(microseconds);
  const shift = exponent - SUB_BITS;
  const index = (shift + 1) * SUB_BUCKETS + ((microseconds >>> shift) & (SUB_BUCKETS - 1));
  return Math.min(index, SUB_BUCKETS * EXPONENTS - 1);
}

function lowerBoundOf(index: number): number {
  if (index < SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  return (SUB_BUCKETS + (index % SUB_BUCKETS)) * 2 ** shift;
}

/**
 * Latency samples in milliseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LatencyHistogram } from "./histogram.ts";
 * const histogram = new LatencyHistogram();
 * for (let ms = 1; ms <= 100; ms++) histogram.record(ms);
 * assert.ok(Math.abs(histogram.percentile(50) - 50) < 2);
 * ```
 */
export class LatencyHistogram {
  #counts = new Uint32Array(SUB_BUCKETS * EXPONENTS);
  /** Number of samples. */
  count = 0;
  /** Largest sample, exact, in ms. */
  maxMs = 0;

  /**
   * Adds one sample (ms; negative clock skew counts as 0).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LatencyHistogram } from "./histogram.ts";
   * const histogram = new LatencyHistogram();
   * histogram.record(2.5);
   * assert.ok(histogram.count === 1 && histogram.maxMs === 2.5);
   * ```
   */
  record(ms: number): void {
    const microseconds = ms * 1000;
    this.#counts[bucketOf(microseconds > 0x7fffffff ? 0x7fffffff : microseconds | 0)]++;
    this.count++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /**
   * The value below which `p` percent of samples fall, in ms (0 when empty).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LatencyHistogram } from "./histogram.ts";
   * const histogram = new LatencyHistogram();
   * histogram.record(10);
   * assert.ok(Math.abs(histogram.percentile(99) - 10) < 0.2);
   * ```
   */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let index = 0; index < this.#counts.length; index++) {
      seen += this.#counts[index];
      if (seen >= rank) {
        const low = lowerBoundOf(index);
        const high = index + 1 < this.#counts.length ? lowerBoundOf(index + 1) : low;
        return Math.min(this.maxMs, ((low + high) / 2) / 1000);
      }
    }
    return this.maxMs;
  }

  /**
   * Forgets every sample.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LatencyHistogram } from "./histogram.ts";
   * const histogram = new LatencyHistogram();
   * histogram.record(1);
   * histogram.reset();
   * assert.ok(histogram.count === 0);
   * ```
   */
  reset(): void {
    this.#counts.fill(0);
    this.count = 0;
    this.maxMs = 0;
  }

  /**
   * A compact copy for sending to another process.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LatencyHistogram } from "./histogram.ts";
   * const histogram = new LatencyHistogram();
   * histogram.record(3);
   * assert.ok(histogram.snapshot().buckets.length === 1);
   * ```
   */
  snapshot(): HistogramSnapshot {
    const buckets: Array<[number, number]> = [];
    for (let index = 0; index < this.#counts.length; index++) {
      if (this.#counts[index] > 0) buckets.push([index, this.#counts[index]]);
    }
    return { buckets, count: this.count, maxMs: this.maxMs };
  }

  /**
   * Adds another histogram's samples (from {@link LatencyHistogram.snapshot}).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { LatencyHistogram } from "./histogram.ts";
   * const a = new LatencyHistogram();
   * const b = new LatencyHistogram();
   * b.record(7);
   * a.merge(b.snapshot());
   * assert.ok(a.count === 1 && a.maxMs === 7);
   * ```
   */
  merge(snapshot: HistogramSnapshot): void {
    for (const [index, count] of snapshot.buckets) this.#counts[index] += count;
    this.count += snapshot.count;
    if (snapshot.maxMs > this.maxMs) this.maxMs = snapshot.maxMs;
  }
}
