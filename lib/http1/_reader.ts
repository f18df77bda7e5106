/**
 * The read side of an HTTP/1.1 connection: a growable buffer of what the client sent, filled on
 * demand, and a small pending read that notices the client leaving while nothing is being read
 * (a handler at work, a stream taken over, a refusal lingering).
 *
 * @module
 */

import { findHeadEnd, Http1Refusal } from "./_head.ts";

const INITIAL_BUFFER = 4096;
const PROBE_BYTES = 64;
const EMPTY = new Uint8Array(0);

/** What the reader needs to know of its connection. */
export interface ReaderOwner {
  /** True while a request's head or body is being read: `fill()` is false otherwise. */
  readonly inRequest: boolean;
  /** True when what arrives is dropped (a stream taken over, a refusal lingering). */
  readonly discarding: boolean;
  /** True once the connection is closed: no more reads start. */
  readonly closed: boolean;
  /** Called when the client has left (EOF or a failed read). */
  lost(): void;
}

/**
 * Bytes received and not yet consumed are `buf[start..end)`.
 */
export class SocketReader {
  buf: Uint8Array = new Uint8Array(INITIAL_BUFFER);
  start = 0;
  end = 0;
  #probe: Uint8Array | null = null;
  #pending: Promise<boolean> | null = null;
  #probing = false;

  /** A reader of `conn`; its buffer grows up to just past `maxHeadBytes` for a head. */
  constructor(
    readonly conn: Deno.Conn,
    readonly maxHeadBytes: number,
    readonly owner: ReaderOwner,
  ) {}

  /**
   * Reads more into `buf`; false when the client is gone or the connection moved on.
   */
  async fill(): Promise<boolean> {
    if (this.#pending === null) {
      this.#makeRoom(1);
      this.#probing = false;
      this.#pending = this.#readOnce(false);
    }
    return (await this.#pending) && this.owner.inRequest;
  }

  /**
   * Keeps a small read pending to notice EOF while nothing else reads.
   */
  watch(): void {
    if (this.#pending !== null || this.owner.closed) return;
    this.#probe ??= new Uint8Array(PROBE_BYTES);
    this.#probing = true;
    this.#pending = this.#readOnce(true);
  }

  /**
   * Drops the buffer of an idle connection (only the probe is read into meanwhile).
   */
  trim(): void {
    if (this.#probing && this.#pending !== null && this.start === this.end) this.buf = EMPTY;
  }

  /**
   * Drops the buffer for good: the connection has been taken over.
   */
  release(): void {
    this.buf = EMPTY;
    this.start = this.end = 0;
  }

  /**
   * Waits for the next request head (blank lines before it are skipped); resolves with its bytes,
   * null when the client left, or a 431 refusal when it outgrows `maxHeadBytes`. `onFirstByte` is
   * called once the head has begun.
   */
  async nextHead(onFirstByte: () => void): Promise<Uint8Array | Http1Refusal | null> {
    let scanned = 0; // bytes after `start` already searched for the blank line
    let begun = false;
    while (true) {
      while (
        this.start < this.end && (this.buf[this.start] === 13 || this.buf[this.start] === 10)
      ) {
        this.start++;
      }
      if (this.start < this.end) {
        if (!begun) {
          begun = true;
          onFirstByte();
        }
        const headEnd = findHeadEnd(this.buf, this.start + Math.max(0, scanned - 3), this.end);
        if ((headEnd < 0 ? this.end : headEnd) - this.start > this.maxHeadBytes) {
          return new Http1Refusal(431, `request head larger than ${this.maxHeadBytes} bytes`);
        }
        if (headEnd >= 0) {
          const bytes = this.buf.subarray(this.start, headEnd);
          this.start = headEnd;
          return bytes;
        }
        scanned = this.end - this.start;
      }
      if (!(await this.fill())) return null;
    }
  }

  /**
   * Reads a body of exactly `length` bytes, buffered ones first; null when the client left or the
   * connection moved on.
   */
  async readExactly(length: number): Promise<Uint8Array<ArrayBuffer> | null> {
    const body = new Uint8Array(length);
    let filled = Math.min(length, this.end - this.start);
    body.set(this.buf.subarray(this.start, this.start + filled));
    this.start += filled;
    while (filled < length) {
      const n = await this.conn.read(body.subarray(filled)).catch(() => null);
      if (n === null) this.owner.lost();
      if (n === null || !this.owner.inRequest) return null;
      filled += n;
    }
    return body;
  }

  async #readOnce(intoProbe: boolean): Promise<boolean> {
    const target = intoProbe ? this.#probe! : this.buf.subarray(this.end);
    const n = await this.conn.read(target).catch(() => null);
    this.#pending = null;
    if (n === null) {
      this.owner.lost();
      return false;
    }
    if (this.owner.discarding) {
      this.watch(); // discard
      return true;
    }
    if (intoProbe) {
      this.#makeRoom(n);
      this.buf.set(target.subarray(0, n), this.end);
    }
    this.end += n;
    return true;
  }

  #makeRoom(needed: number): void {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.buf.length - this.end >= needed) return;
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.buf.length - this.end >= needed) return;
    const cap = Math.max(this.maxHeadBytes + 1, this.end + needed);
    const grown = new Uint8Array(
      Math.min(cap, Math.max(this.buf.length * 2, INITIAL_BUFFER, this.end + needed)),
    );
    grown.set(this.buf.subarray(0, this.end));
    this.buf = grown;
  }
}
