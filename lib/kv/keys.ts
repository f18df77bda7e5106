/**
 * Every Deno KV key tidings writes, in one place. The log keeps its layout across versions (a
 * store written by an older tidings is read as it is); records of the {@link RecordStore} live
 * under their own prefix so no caller's key can land on the log.
 *
 * | key                               | value                                        |
 * | --------------------------------- | -------------------------------------------- |
 * | `["head"]`                        | the newest position                          |
 * | `["meta", "epoch"]`               | the store's epoch                            |
 * | `["log", firstSeq]`               | the updates of one commit (global log)       |
 * | `["topic", topic, firstSeq]`      | that commit's updates of one topic           |
 * | `["id", id]`                      | the position of a publisher-given id         |
 * | `["trimmed", topic \| "*"]`       | how far a log was trimmed                    |
 * | `["lease", name]`                 | `{owner, expiresAt}`                         |
 * | `["rec", ...key]`                 | a record                                     |
 *
 * @module
 */

import type { RecordKey } from "../hub/mod.ts";

/** The newest position of the log. */
export const HEAD_KEY: Deno.KvKey = ["head"];
/** The store's epoch. */
export const EPOCH_KEY: Deno.KvKey = ["meta", "epoch"];
/** The global log's rows. */
export const GLOBAL_LOG: Deno.KvKey = ["log"];

/** The rows of one topic's log. */
export function topicLog(topic: string): Deno.KvKey {
  return ["topic", topic];
}

/** A publisher-given id's position. */
export function idKey(id: string): Deno.KvKey {
  return ["id", id];
}

/** How far a log (`"*"`: the global one) was trimmed. */
export function trimmedKey(log: string): Deno.KvKey {
  return ["trimmed", log];
}

/** A lease. */
export function leaseKey(name: string): Deno.KvKey {
  return ["lease", name];
}

/**
 * Where a record lives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recordKey } from "./keys.ts";
 * assert.deepEqual(recordKey(["orders", "o-1"]), ["rec", "orders", "o-1"]);
 * ```
 */
export function recordKey(key: RecordKey): Deno.KvKey {
  return ["rec", ...key];
}
