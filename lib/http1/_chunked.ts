/**
 * Decoding a `Transfer-Encoding: chunked` request body, with a size limit (extensions and trailers
 * are skipped). Strict where RFC 9112 §7.1 is: after a chunk size only whitespace, then `;` and an
 * extension, or the line end may follow (`2 9` is refused); no control characters in an
 * extension. A bare LF is accepted as a line end, as it is in the head.
 *
 * @module
 */

import { concatBytes } from "../util/bytes.ts";
import { Http1Refusal } from "./_head.ts";

const LF = 10;
const CR = 13;

const enum Chunk {
  Size,
  SizeSpace,
  Ext,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  TrailerStart,
  Trailer,
  EndLF,
  Done,
}

/**
 * Decodes a `Transfer-Encoding: chunked` body fed in pieces, keeping the data parts. Throws an
 * {@link Http1Refusal}: 413 when the data passes `maxBytes`, 400 when the framing is malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChunkedDecoder } from "./_chunked.ts";
 * const decoder = new ChunkedDecoder(1024, 1024);
 * const wire = new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\n");
 * assert.equal(decoder.feed(wire, 0, wire.length), wire.length);
 * assert.equal(decoder.done, true);
 * assert.equal(new TextDecoder().decode(decoder.body()), "abc");
 * ```
 */
export class ChunkedDecoder {
  #state = Chunk.Size;
  #size = 0;
  #digits = 0;
  #lineBytes = 0;
  #total = 0;
  #parts: Uint8Array<ArrayBuffer>[] = [];

  constructor(readonly maxBytes: number, readonly maxLineBytes: number) {}

  /**
   * True once the last chunk and the trailer section are read.
   */
  get done(): boolean {
    return this.#state === Chunk.Done;
  }

  /**
   * Consumes bytes of `buf[start, end)` (stopping at the end of the body) and returns how many.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { ChunkedDecoder } from "./_chunked.ts";
   * const decoder = new ChunkedDecoder(10, 100);
   * const wire = new TextEncoder().encode("1\r\nx\r\n0\r\n\r\nNEXT");
   * assert.equal(decoder.feed(wire, 0, wire.length), wire.length - 4); // stops before the next request
   * ```
   */
  feed(buf: Uint8Array, start: number, end: number): number {
    let i = start;
    while (i < end && this.#state !== Chunk.Done) {
      const byte = buf[i];
      switch (this.#state) {
        case Chunk.Data: {
          const take = Math.min(this.#size, end - i);
          this.#parts.push(buf.slice(i, i + take));
          this.#size -= take;
          i += take;
          if (this.#size === 0) this.#state = Chunk.DataCR;
          continue;
        }
        case Chunk.Size: {
          const digit = hexValue(byte);
          if (digit >= 0 && this.#digits < 15) {
            this.#size = this.#size * 16 + digit;
            this.#digits++;
          } else if (this.#digits === 0) {
            throw new Http1Refusal(400, "malformed chunk size");
          } else if (byte === 59) this.#state = Chunk.Ext;
          else if (byte === 32 || byte === 9) this.#state = Chunk.SizeSpace;
          else if (byte === CR) this.#state = Chunk.SizeLF;
          else if (byte === LF) this.#sizeLineEnd();
          else throw new Http1Refusal(400, "malformed chunk size");
          break;
        }
        case Chunk.SizeSpace:
          if (byte === 59) this.#state = Chunk.Ext;
          else if (byte === CR) this.#state = Chunk.SizeLF;
          else if (byte === LF) this.#sizeLineEnd();
          else if (byte !== 32 && byte !== 9) {
            throw new Http1Refusal(400, "unexpected bytes after a chunk size");
          }
          break;
        case Chunk.Ext:
          if (byte === LF) this.#sizeLineEnd();
          else if (byte === CR) this.#state = Chunk.SizeLF;
          else if ((byte < 32 && byte !== 9) || byte === 127) {
            throw new Http1Refusal(400, "control character in a chunk extension");
          } else if (++this.#lineBytes > 4096) {
            throw new Http1Refusal(400, "chunk extension too long");
          }
          break;
        case Chunk.SizeLF:
        case Chunk.DataLF:
        case Chunk.EndLF:
          if (byte !== LF) throw new Http1Refusal(400, "malformed chunked body");
          if (this.#state === Chunk.SizeLF) this.#sizeLineEnd();
          else this.#state = this.#state === Chunk.DataLF ? Chunk.Size : Chunk.Done;
          break;
        case Chunk.DataCR:
          if (byte === CR) this.#state = Chunk.DataLF;
          else if (byte === LF) this.#state = Chunk.Size;
          else throw new Http1Refusal(400, "chunk data longer than its size");
          break;
        case Chunk.TrailerStart:
          if (byte === CR) this.#state = Chunk.EndLF;
          else if (byte === LF) this.#state = Chunk.Done;
          else this.#state = Chunk.Trailer;
          break;
        case Chunk.Trailer:
          if (++this.#lineBytes > this.maxLineBytes) {
            throw new Http1Refusal(431, "chunked trailer section too large");
          }
          if (byte === LF) this.#state = Chunk.TrailerStart;
          break;
      }
      i++;
    }
    return i - start;
  }

  /**
   * The decoded body: every data part joined.
   */
  body(): Uint8Array<ArrayBuffer> {
    return this.#parts.length === 0 ? new Uint8Array(0) : concatBytes(this.#parts, this.#total);
  }

  #sizeLineEnd(): void {
    if (this.#size === 0) {
      this.#state = Chunk.TrailerStart;
      return;
    }
    this.#total += this.#size;
    if (this.#total > this.maxBytes) {
      throw new Http1Refusal(413, `request body larger than ${this.maxBytes} bytes`);
    }
    this.#state = Chunk.Data;
    this.#digits = 0;
  }
}

function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}
