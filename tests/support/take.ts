/**
 * Collecting the first items of an async iterable, for tests of endless feeds.
 *
 * @module
 */

/**
 * Collects the first `count` items of `source`, then stops it (a generator's `finally` runs).
 * Resolves with fewer items when `source` ends first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { take } from "./take.ts";
 * async function* naturals() {
 *   for (let n = 0;; n++) yield n;
 * }
 * const first = await take(naturals(), 3);
 * assert.ok(first.join() === "0,1,2");
 * ```
 */
export async function take<T>(source: AsyncIterable<T>, count: number): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) {
    items.push(item);
    if (items.length === count) break;
  }
  return items;
}
