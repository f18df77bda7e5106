/**
 * RESP2, the Redis wire protocol: commands are encoded as arrays of bulk strings, replies are
 * decoded incrementally from whatever the socket delivered (a reply may arrive split across any
 * number of reads, several replies in one read). The decoder keeps its buffer bounded: a bulk
 * string longer than `maxBulkBytes`, an array longer than `maxArrayLength`, or a reply still
 * incomplete past `maxBufferBytes` is refused with a {@link RespLimitError} before its bytes are
 * kept. After any error the stream cannot be trusted: the connection must be closed.
 *
 * @module
 */
import { concatBytes } from "../util/bytes.ts";

/** A decoded reply: simple and bulk strings are text (UTF-8), nil is `null`. */
export type RespValue = string | number | null | RespError | RespValue[];

/** An error reply (`-ERR …`): a value, not a thrown error, so a pipeline can go on. */
export class RespError extends Error {
  /** The first word of the message: `ERR`, `WRONGPASS`, `NOSCRIPT`, … */
  readonly code: string;

  /**
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { RespError } from "./resp.ts";
   * assert.equal(new RespError("NOSCRIPT No matching script").code, "NOSCRIPT");
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "RespError";
    this.code = message.split(" ", 1)[0];
  }
}

/** The server sent something that is not RESP. */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespProtocolError";
  }
}

/** A reply larger than the decoder's bounds. */
export class RespLimitError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "RespLimitError";
  }
}

/** An argument of a command. */
export type RespArgument = string | number | Uint8Array;

const encoder = new TextEncoder();

/**
 * Encodes one command as a RESP array of bulk strings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeCommand } from "./resp.ts";
 * const bytes = encodeCommand(["SET", "k", 7]);
 * assert.equal(new TextDecoder().decode(bytes), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n7\r\n");
 * // Non-ASCII and binary arguments are counted in bytes.
 * const mixed = encodeCommand(["SET", "é", new Uint8Array([0x41]), 1]);
 * assert.equal(
 *   new TextDecoder().decode(mixed),
 *   "*4\r\n$3\r\nSET\r\n$2\r\né\r\n$1\r\nA\r\n$1\r\n1\r\n",
 * );
 * ```
 */
export function encodeCommand(args: readonly RespArgument[]): Uint8Array {
  // ASCII strings and numbers (nearly every argument: keys, ids, JSON of ASCII payloads) are
  // gathered into one string encoded once; only binary and non-ASCII arguments are encoded apart.
  let text = `*${args.length}\r\n`;
  let parts: Uint8Array[] | undefined;
  for (const arg of args) {
    if (typeof arg === "number" || (typeof arg === "string" && !NOT_ASCII.test(arg))) {
      const ascii = typeof arg === "number" ? String(arg) : arg;
      text += `$${ascii.length}\r\n${ascii}\r\n`;
      continue;
    }
    const bytes = typeof arg === "string" ? encoder.encode(arg) : arg;
    (parts ??= []).push(encoder.encode(`${text}$${bytes.length}\r\n`), bytes);
    text = "\r\n";
  }
  if (parts === undefined) return encoder.encode(text);
  parts.push(encoder.encode(text));
  return concatBytes(parts);
}

const NOT_ASCII = /[\u0080-\uffff]/;

/** Bounds of a {@link RespDecoder}. */
export interface RespLimits {
  /** Longest bulk string accepted, bytes. Default 16 MiB. */
  maxBulkBytes?: number;
  /** Most elements of one array. Default 1,000,000. */
  maxArrayLength?: number;
  /** Most bytes buffered for one incomplete reply. Default 64 MiB. */
  maxBufferBytes?: number;
  /** Deepest nesting of arrays. Default 16. */
  maxDepth?: number;
}

interface Frame {
  items: RespValue[];
  length: number;
}

const decoder = new TextDecoder();

/**
 * An incremental RESP2 reply decoder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RespDecoder } from "./resp.ts";
 * const decoderOfReplies = new RespDecoder();
 * const bytes = new TextEncoder().encode("*2\r\n$5\r\nhello\r\n:42\r\n+OK\r\n");
 * decoderOfReplies.push(bytes.subarray(0, 9)); // a reply split across reads
 * assert.equal(decoderOfReplies.next(), undefined);
 * decoderOfReplies.push(bytes.subarray(9));
 * assert.deepEqual(decoderOfReplies.next(), ["hello", 42]);
 * assert.equal(decoderOfReplies.next(), "OK");
 * assert.equal(decoderOfReplies.next(), undefined);
 * ```
 */
export class RespDecoder {
  #buffer = new Uint8Array(4096);
  #start = 0;
  #end = 0;
  #stack: Frame[] = [];
  /** Bytes consumed by the reply being decoded (its finished parts). */
  #replyBytes = 0;
  readonly #maxBulk: number;
  readonly #maxArray: number;
  readonly #maxBuffer: number;
  readonly #maxDepth: number;

  constructor(limits: RespLimits = {}) {
    this.#maxBulk = limits.maxBulkBytes ?? 16 * 1024 * 1024;
    this.#maxArray = limits.maxArrayLength ?? 1_000_000;
    this.#maxBuffer = limits.maxBufferBytes ?? 64 * 1024 * 1024;
    this.#maxDepth = limits.maxDepth ?? 16;
  }

  /** Bytes buffered and not yet decoded. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Adds bytes read from the socket. */
  push(chunk: Uint8Array): void {
    const waiting = this.#end - this.#start;
    if (this.#replyBytes + waiting + chunk.length > this.#maxBuffer + 64) {
      // The slack lets a bounded bulk string's header and CRLF fit beside it.
      throw new RespLimitError(
        `reply larger than ${this.#maxBuffer} bytes: refused (raise the bound or ask for less)`,
      );
    }
    if (this.#end + chunk.length > this.#buffer.length) {
      if (waiting + chunk.length <= this.#buffer.length) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else {
        let size = this.#buffer.length * 2;
        while (size < waiting + chunk.length) size *= 2;
        const grown = new Uint8Array(size);
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      }
      this.#start = 0;
      this.#end = waiting;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next complete reply, or `undefined` until more bytes arrive. */
  next(): RespValue | undefined {
    while (true) {
      const before = this.#start;
      const value = this.#scalar();
      if (value === INCOMPLETE) return undefined;
      this.#replyBytes += this.#start - before;
      let done: RespValue | typeof OPENED = value;
      // Fold finished arrays into their parents.
      while (done !== OPENED) {
        const top = this.#stack.at(-1);
        if (!top) {
          this.#replyBytes = 0;
          if (this.#start === this.#end) {
            this.#start = this.#end = 0;
            if (this.#buffer.length > 65536) this.#buffer = new Uint8Array(4096);
          }
          return done;
        }
        top.items.push(done);
        if (top.items.length < top.length) break;
        this.#stack.pop();
        done = top.items;
      }
    }
  }

  /** Decodes one element; an array header pushes a frame and returns {@link OPENED}. */
  #scalar(): RespValue | typeof INCOMPLETE | typeof OPENED {
    const lineEnd = this.#lineEnd();
    if (lineEnd < 0) {
      if (this.#end - this.#start > 1024 * 64) {
        throw new RespProtocolError("a reply line longer than 64 KiB: not RESP");
      }
      return INCOMPLETE;
    }
    const type = this.#buffer[this.#start];
    const line = decoder.decode(this.#buffer.subarray(this.#start + 1, lineEnd));
    const afterLine = lineEnd + 2;
    switch (type) {
      case 43: // +
        this.#start = afterLine;
        return line;
      case 45: // -
        this.#start = afterLine;
        return new RespError(line);
      case 58: { // :
        const number = Number(line);
        if (!/^-?\d+$/.test(line)) throw new RespProtocolError(`bad integer reply: ${line}`);
        this.#start = afterLine;
        return number;
      }
      case 36: { // $
        const length = this.#length(line, "bulk string");
        if (length < 0) {
          this.#start = afterLine;
          return null;
        }
        if (length > this.#maxBulk) {
          throw new RespLimitError(
            `bulk string of ${length} bytes refused: longer than the bound of ${this.#maxBulk}`,
          );
        }
        if (this.#end < afterLine + length + 2) return INCOMPLETE;
        if (
          this.#buffer[afterLine + length] !== 13 || this.#buffer[afterLine + length + 1] !== 10
        ) {
          throw new RespProtocolError("bulk string not followed by CRLF");
        }
        const text = decoder.decode(this.#buffer.subarray(afterLine, afterLine + length));
        this.#start = afterLine + length + 2;
        return text;
      }
      case 42: { // *
        const length = this.#length(line, "array");
        this.#start = afterLine;
        if (length < 0) return null;
        if (length > this.#maxArray) {
          throw new RespLimitError(
            `array of ${length} elements refused: more than ${this.#maxArray}`,
          );
        }
        if (length === 0) return [];
        if (this.#stack.length >= this.#maxDepth) {
          throw new RespLimitError(`arrays nested deeper than ${this.#maxDepth}`);
        }
        this.#stack.push({ items: [], length });
        return OPENED;
      }
      default:
        throw new RespProtocolError(`unknown reply type byte ${type}`);
    }
  }

  #length(line: string, what: string): number {
    if (!/^(-1|\d{1,12})$/.test(line)) throw new RespProtocolError(`bad ${what} length: ${line}`);
    return Number(line);
  }

  #lineEnd(): number {
    const buffer = this.#buffer;
    for (let i = this.#start; i + 1 < this.#end; i++) {
      if (buffer[i] === 13 && buffer[i + 1] === 10) return i;
    }
    return -1;
  }
}

const INCOMPLETE = Symbol("incomplete");
const OPENED = Symbol("opened");
