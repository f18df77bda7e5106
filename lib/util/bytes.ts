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

/**
 * The length of a string in UTF-8 bytes (as KV and the wire count it), without encoding it. A lone
 * surrogate counts 3, as its replacement character does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8ByteLength } from "./bytes.ts";
 * assert.equal(utf8ByteLength("a€😀"), 1 + 3 + 4);
 * ```
 */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // 4 bytes for the two units
        i++;
        continue;
      }
      bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}
