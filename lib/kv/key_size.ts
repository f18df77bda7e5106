/**
 * The size of a Deno KV key as KV encodes it, so a key over KV's limit is refused for its own
 * request before it reaches a commit (where it would fail every other write of that commit).
 *
 * KV encodes each part with a type byte: a string as its UTF-8 bytes and a Uint8Array as its bytes
 * (a zero byte doubled in both) plus a closing zero, a number in 8 bytes, a bigint in at most its
 * magnitude's bytes plus two, a boolean in none.
 *
 * @module
 */

import { utf8ByteLength } from "../util/bytes.ts";

/** KV refuses writes of keys longer than this (encoded). */
export const MAX_KV_KEY_BYTES = 2048;

function zeros(text: string): number {
  let count = 0;
  for (let at = text.indexOf("\0"); at !== -1; at = text.indexOf("\0", at + 1)) count++;
  return count;
}

/**
 * The encoded size of a KV key, in bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kvKeyBytes } from "./key_size.ts";
 * assert.equal(kvKeyBytes(["topic", "€", 1]), (1 + 5 + 1) + (1 + 3 + 1) + 9);
 * ```
 */
export function kvKeyBytes(key: Deno.KvKey): number {
  let bytes = 0;
  for (const part of key) {
    if (typeof part === "string") bytes += 2 + utf8ByteLength(part) + zeros(part);
    else if (typeof part === "number") bytes += 9;
    else if (typeof part === "bigint") {
      bytes += 2 + Math.ceil((part < 0n ? -part : part).toString(16).length / 2);
    } else if (typeof part === "boolean") bytes += 1;
    else if (part instanceof Uint8Array) {
      bytes += 2 + part.length + part.filter((byte) => byte === 0).length;
    } else bytes += MAX_KV_KEY_BYTES + 1; // a symbol: KV takes none
  }
  return bytes;
}

/**
 * Whether KV can write `key`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kvKeyFits } from "./key_size.ts";
 * assert.ok(kvKeyFits(["topic", "news", 1]));
 * assert.ok(!kvKeyFits(["topic", "€".repeat(1024), 1]));
 * ```
 */
export function kvKeyFits(key: Deno.KvKey): boolean {
  return kvKeyBytes(key) <= MAX_KV_KEY_BYTES;
}
