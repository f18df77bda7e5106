/**
 * Byte helpers shared by the server: joining chunks into one buffer (one write per batch, one body
 * per request).
 *
 * @module
 */

/**
 * Joins byte chunks into one; a single chunk is returned as it is. `length`, when the caller
 * already knows the total, saves a pass.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { concatBytes } from "./bytes.ts";
 * assert.deepEqual(concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]), new Uint8Array([1, 2, 3]));
 * ```
 */
export function concatBytes(
  parts: readonly Uint8Array<ArrayBuffer>[],
  length?: number,
): Uint8Array<ArrayBuffer>;
export function concatBytes(parts: readonly Uint8Array[], length?: number): Uint8Array;
export function concatBytes(parts: readonly Uint8Array[], length?: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  if (length === undefined) {
    length = 0;
    for (const part of parts) length += part.byteLength;
  }
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}
