/**
 * Several isolates of one process on one SQLite KV file sometimes get "database is locked" (most
 * often when they all start at once on a fresh file). That error is transient, so a KV handle
 * wrapped here retries reads, writes and atomic commits for a few seconds before giving up.
 *
 * @module
 */

/**
 * Whether an error is SQLite's transient lock error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isBusy } from "./busy_retry.ts";
 * assert.equal(isBusy(new TypeError("database is locked")), true);
 * assert.equal(isBusy(new TypeError("value too large")), false);
 * ```
 */
export function isBusy(error: unknown): boolean {
  return error instanceof Error && /database is (locked|busy)/i.test(error.message);
}

/**
 * Runs `operation`, retrying it with a short random pause while it fails with a lock error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { retryWhileBusy } from "./busy_retry.ts";
 * let calls = 0;
 * const value = await retryWhileBusy(async () => {
 *   if (++calls < 3) throw new TypeError("database is locked");
 *   return 42;
 * });
 * assert.equal(value, 42);
 * assert.equal(calls, 3);
 * ```
 */
export async function retryWhileBusy<T>(operation: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      return await operation();
    } catch (error) {
      if (!isBusy(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 9));
    }
  }
}

const RETRIED = new Set(["get", "getMany", "set", "delete"]);

/**
 * Wraps a KV handle so `get`, `getMany`, `set`, `delete` and `atomic().commit()` retry while
 * the database is locked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { retryingKv } from "./busy_retry.ts";
 * const kv = retryingKv(await Deno.openKv(":memory:"));
 * await kv.set(["a"], 1);
 * assert.equal((await kv.get(["a"])).value, 1);
 * kv.close();
 * ```
 */
export function retryingKv(kv: Deno.Kv): Deno.Kv {
  return new Proxy(kv, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (RETRIED.has(property as string)) {
        return (...args: unknown[]) => retryWhileBusy(() => value.apply(target, args));
      }
      if (property === "atomic") {
        return () => {
          const atomic = target.atomic();
          const commit = atomic.commit.bind(atomic);
          atomic.commit = () => retryWhileBusy(commit);
          return atomic;
        };
      }
      return value.bind(target);
    },
  });
}
