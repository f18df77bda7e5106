/**
 * Batched KV writes: many small independent sets and deletes (one per connection, say) share one
 * atomic commit instead of paying a commit each. One commit is in flight at a time; what arrives
 * meanwhile goes into the next. Each caller's promise settles when its own write commits.
 *
 * Only for unconditional writes to distinct keys: a batch has no checks, so it cannot conflict.
 * A key KV could not take (over 2,048 encoded bytes) is refused alone, before it joins a batch;
 * and should a batch still fail (a value over 64 KiB, say), its writes are retried one by one, so
 * one bad write never fails the others.
 *
 * @module
 */

import { StorageLimitError } from "../hub/mod.ts";
import { kvKeyFits } from "./key_size.ts";

/** Mutations in one commit at most (KV allows 1,000). */
const MAX_MUTATIONS = 500;
/** Bytes (as estimated by the callers) in one commit at most (KV allows 800 KiB). */
const MAX_BYTES = 512 * 1024;

interface PendingWrite {
  key: Deno.KvKey;
  /** `undefined` deletes the key. */
  value: unknown;
  expireIn: number | undefined;
  size: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Groups independent writes to one KV store into shared atomic commits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvBatchWriter } from "./batch_writer.ts";
 * const kv = await Deno.openKv(":memory:");
 * await kv.set(["c"], 3);
 * const writer = new KvBatchWriter(kv);
 * await Promise.all([writer.set(["a"], 1), writer.set(["b"], 2), writer.delete(["c"])]);
 * const values = await kv.getMany([["a"], ["b"], ["c"]]);
 * assert.deepEqual(values.map((entry) => entry.value), [1, 2, null]);
 * kv.close();
 * ```
 */
export class KvBatchWriter {
  readonly kv: Deno.Kv;
  /** Commits made, for tests and metrics. */
  commits = 0;
  #queue: PendingWrite[] = [];
  #draining = false;

  /** A writer for `kv`. */
  constructor(kv: Deno.Kv) {
    this.kv = kv;
  }

  /**
   * Sets `key` to `value` in the next batch; `size` is the caller's estimate of the value's bytes.
   */
  set(
    key: Deno.KvKey,
    value: unknown,
    options: { expireIn?: number; size?: number } = {},
  ): Promise<void> {
    return this.#enqueue(key, value, options.expireIn, options.size ?? 256);
  }

  /**
   * Deletes `key` in the next batch.
   */
  delete(key: Deno.KvKey): Promise<void> {
    return this.#enqueue(key, undefined, undefined, 64);
  }

  #enqueue(
    key: Deno.KvKey,
    value: unknown,
    expireIn: number | undefined,
    size: number,
  ): Promise<void> {
    if (!kvKeyFits(key)) {
      return Promise.reject(new StorageLimitError("key too large for KV (at most 2,048 bytes)"));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ key, value, expireIn, size, resolve, reject });
      if (!this.#draining) this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#takeBatch();
        try {
          await this.#commit(batch);
          for (const write of batch) write.resolve();
        } catch (error) {
          if (batch.length === 1) batch[0].reject(error);
          // One bad write must never fail the others: each goes alone.
          else {for (const write of batch) {
              await this.#commit([write]).then(write.resolve, write.reject);
            }}
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  async #commit(batch: PendingWrite[]): Promise<void> {
    const atomic = this.kv.atomic();
    for (const write of batch) {
      if (write.value === undefined) atomic.delete(write.key);
      else {
        atomic.set(
          write.key,
          write.value,
          write.expireIn === undefined ? undefined : { expireIn: write.expireIn },
        );
      }
    }
    await atomic.commit();
    this.commits++;
  }

  #takeBatch(): PendingWrite[] {
    let count = 0;
    let bytes = 0;
    for (const write of this.#queue) {
      if (count > 0 && (count === MAX_MUTATIONS || bytes + write.size > MAX_BYTES)) break;
      count++;
      bytes += write.size;
    }
    return this.#queue.splice(0, count);
  }
}
