/**
 * One raw-TCP SSE subscriber for the load tool: writes an HTTP/1.1 GET, parses the response head,
 * then the body (chunked or close-delimited) line by line, without `fetch`, streams or strings on
 * the hot path. It checks the bench payload `"<seq> <sendTimeMs>"` of each `data:` line: sequence
 * numbers (exactly: lost, duplicated, out of order) and publish→deliver latency.
 *
 * State per connection is a handful of numbers, a bitset of the sequence numbers seen (one bit
 * per event, allocated at the first event) and its read buffer.
 *
 * @module
 */

import type { LatencyHistogram } from "./histogram.ts";

const LF = 10;
const CR = 13;

/** Counters shared by every subscriber of one process. */
export interface SharedTally {
  histogram: LatencyHistogram;
  /** Bench events received (all connections). */
  received: number;
  /** Absolute time (ms, epoch) of the latest received bench event. */
  lastReceivedAt: number;
  /** Absolute time (ms, epoch) of the first received bench event (0 = none yet). */
  firstReceivedAt?: number;
  /** Connections that have seen at least one warm-up event (`data: w`). */
  warm: number;
  /** Connections that ended while the tool still wanted them. */
  droppedEarly: number;
}

/** Absolute wall-clock time in ms with sub-ms precision, comparable across local processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

const enum Body {
  Head,
  ChunkSize,
  ChunkExtension,
  ChunkData,
  ChunkEnd,
  Raw,
  Done,
}

/**
 * A subscriber connection. `open()` resolves once the response head says 200.
 *
 * @example
 * ```ts ignore
 * import { SseSubscriber } from "./sse_subscriber.ts";
 * const subscriber = new SseSubscriber(0, tally, 4096, false);
 * await subscriber.open("127.0.0.1", 8000, "/sub/news", undefined);
 * ```
 */
export class SseSubscriber {
  /** Index of the topic this connection follows (for the expected sequence count). */
  readonly topic: number;
  /** Distinct sequence numbers seen. */
  unique = 0;
  /** Sequence numbers seen again. */
  duplicates = 0;
  /** Events that arrived after a higher sequence number. */
  outOfOrder = 0;
  /** Largest distance by which an event arrived late (highest seen − its seq). */
  maxDisplacement = 0;
  /** Highest sequence number seen. */
  highest = -1;
  /** Rolling hash of the order in which distinct events arrived (equal on every connection of a
   * topic when the hub delivers one consistent order). */
  orderHash = 0;
  /** The latest `id:` value, kept only when asked for (resume scenario). */
  lastId: string | undefined;
  /** Set once the stream ends. */
  ended = false;
  #conn: Deno.TcpConn | undefined;
  /** Bitset of the sequence numbers seen (grows on demand; absent until the first event). */
  #seen: Uint8Array | undefined;
  #tally: SharedTally;
  #bufferBytes: number;
  #keepIds: boolean;
  #state = Body.Head;
  #chunkLeft = 0;
  #pending: Uint8Array | undefined;
  #warm = false;
  #closing = false;
  #onHead: ((error?: Error) => void) | undefined;

  /**
   * @example
   * ```ts ignore
   * new SseSubscriber(3, tally, 4096, true);
   * ```
   */
  constructor(topic: number, tally: SharedTally, bufferBytes: number, keepIds: boolean) {
    this.topic = topic;
    this.#tally = tally;
    this.#bufferBytes = bufferBytes;
    this.#keepIds = keepIds;
  }

  /**
   * Connects, sends the GET and waits for a 200 head (rejects on another status or `timeoutMs`).
   *
   * @example
   * ```ts ignore
   * await subscriber.open("127.0.0.1", 8000, "/.well-known/mercure?topic=a", "urn:uuid:…");
   * ```
   */
  async open(
    host: string,
    port: number,
    path: string,
    lastEventId: string | undefined,
    timeoutMs = 30_000,
  ): Promise<void> {
    const conn = await Deno.connect({ hostname: host, port });
    this.#conn = conn;
    const head = `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\n` +
      (lastEventId === undefined ? "" : `Last-Event-ID: ${lastEventId}\r\n`) + "\r\n";
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => this.#onHead?.(new Error(`no response head in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#onHead = (error) => {
        clearTimeout(timer);
        this.#onHead = undefined;
        error ? reject(error) : resolve();
      };
    });
    await conn.write(new TextEncoder().encode(head));
    this.#readLoop(conn);
    await ready;
  }

  /**
   * Closes the connection (idempotent).
   *
   * @example
   * ```ts ignore
   * subscriber.close();
   * ```
   */
  close(): void {
    this.#closing = true;
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    this.#conn = undefined;
  }

  async #readLoop(conn: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(this.#bufferBytes);
    try {
      while (this.#state !== Body.Done) {
        const n = await conn.read(buffer);
        if (n === null) break;
        this.#feed(buffer, n, nowMs());
      }
    } catch (error) {
      this.#onHead?.(error as Error);
    }
    this.ended = true;
    this.#onHead?.(new Error("connection closed before the response head"));
    if (!this.#closing) this.#tally.droppedEarly++;
  }

  #feed(bytes: Uint8Array, length: number, at: number): void {
    let start = 0;
    if (this.#state === Body.Head) {
      const carried = this.#pending !== undefined;
      const joined = carried
        ? concat(this.#pending!, bytes.subarray(0, length))
        : bytes.subarray(0, length);
      const end = indexOfHeadEnd(joined);
      if (end < 0) {
        this.#pending = joined.slice();
        if (joined.length > 16_384) this.#onHead?.(new Error("response head too large"));
        return;
      }
      this.#pending = undefined;
      const head = new TextDecoder().decode(joined.subarray(0, end)).toLowerCase();
      const status = head.slice(9, 12);
      if (status !== "200") {
        this.#state = Body.Done;
        this.#onHead?.(new Error(`HTTP ${status}`));
        return;
      }
      this.#state = /\r\ntransfer-encoding:[^\r]*chunked/.test(head) ? Body.ChunkSize : Body.Raw;
      this.#chunkLeft = 0;
      this.#onHead?.();
      if (carried) {
        this.#body(joined, end + 4, joined.length, at);
        return;
      }
      start = end + 4;
    }
    this.#body(bytes, start, length, at);
  }

  #body(bytes: Uint8Array, start: number, end: number, at: number): void {
    let i = start;
    while (i < end) {
      switch (this.#state) {
        case Body.Raw:
          this.#text(bytes, i, end, at);
          return;
        case Body.ChunkSize: {
          const c = bytes[i++];
          if (c === LF) {
            if (this.#chunkLeft === 0) {
              this.#state = Body.Done;
              return;
            }
            this.#state = Body.ChunkData;
          } else if (c === 59 /* ; */ || c === CR) {
            this.#state = Body.ChunkExtension;
          } else {
            this.#chunkLeft = this.#chunkLeft * 16 + hexValue(c);
          }
          break;
        }
        case Body.ChunkExtension:
          if (bytes[i++] === LF) this.#state = this.#chunkLeft === 0 ? Body.Done : Body.ChunkData;
          break;
        case Body.ChunkData: {
          const take = Math.min(this.#chunkLeft, end - i);
          this.#text(bytes, i, i + take, at);
          i += take;
          this.#chunkLeft -= take;
          if (this.#chunkLeft === 0) this.#state = Body.ChunkEnd;
          break;
        }
        case Body.ChunkEnd:
          if (bytes[i++] === LF) this.#state = Body.ChunkSize;
          break;
        default:
          return;
      }
    }
  }

  /** SSE text: complete lines are handled at once; a partial line waits in `#pending`. */
  #text(bytes: Uint8Array, start: number, end: number, at: number): void {
    let i = start;
    if (this.#pending) {
      const lf = bytes.subarray(start, end).indexOf(LF);
      if (lf < 0) {
        this.#pending = concat(this.#pending, bytes.subarray(start, end));
        return;
      }
      const line = concat(this.#pending, bytes.subarray(start, start + lf));
      this.#pending = undefined;
      this.#line(line, 0, line.length, at);
      i = start + lf + 1;
    }
    const view = end === bytes.length ? bytes : bytes.subarray(0, end);
    while (i < end) {
      const lf = view.indexOf(LF, i);
      if (lf < 0) {
        this.#pending = bytes.slice(i, end);
        return;
      }
      this.#line(view, i, lf, at);
      i = lf + 1;
    }
  }

  #line(bytes: Uint8Array, start: number, end: number, at: number): void {
    if (end > start && bytes[end - 1] === CR) end--;
    const first = bytes[start];
    // "data: "
    if (first === 100 && bytes[start + 1] === 97 && bytes[start + 4] === 58 && end - start > 6) {
      this.#data(bytes, start + 6, end, at);
    } else if (
      this.#keepIds && first === 105 && bytes[start + 1] === 100 && bytes[start + 2] === 58
    ) {
      this.lastId = new TextDecoder().decode(bytes.subarray(start + 4, end));
    }
  }

  #data(bytes: Uint8Array, i: number, end: number, at: number): void {
    if (bytes[i] === 119 /* w */) {
      if (!this.#warm) {
        this.#warm = true;
        this.#tally.warm++;
      }
      return;
    }
    let seq = 0;
    let c = bytes[i];
    if (c < 48 || c > 57) return;
    while (i < end && (c = bytes[i]) >= 48 && c <= 57) {
      seq = seq * 10 + c - 48;
      i++;
    }
    i++;
    let sent = 0;
    while (i < end && (c = bytes[i]) >= 48 && c <= 57) {
      sent = sent * 10 + c - 48;
      i++;
    }
    if (c === 46 /* . */) {
      let scale = 0.1;
      i++;
      while (i < end && (c = bytes[i]) >= 48 && c <= 57) {
        sent += (c - 48) * scale;
        scale *= 0.1;
        i++;
      }
    }
    const tally = this.#tally;
    if (tally.received === 0) tally.firstReceivedAt = at;
    tally.received++;
    tally.lastReceivedAt = at;
    tally.histogram.record(at - sent);
    this.#sequence(seq);
  }

  #sequence(seq: number): void {
    const byte = seq >>> 3;
    let seen = this.#seen;
    if (seen === undefined || byte >= seen.length) {
      const grown = new Uint8Array(Math.max(16, (byte + 1) * 2));
      if (seen) grown.set(seen);
      this.#seen = seen = grown;
    }
    const bit = 1 << (seq & 7);
    if (seen[byte] & bit) {
      this.duplicates++;
      return;
    }
    seen[byte] |= bit;
    this.unique++;
    this.orderHash = (Math.imul(this.orderHash, 31) + seq + 1) | 0;
    if (seq < this.highest) {
      this.outOfOrder++;
      if (this.highest - seq > this.maxDisplacement) this.maxDisplacement = this.highest - seq;
    } else {
      this.highest = seq;
    }
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return 0;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = bytes.indexOf(CR); i >= 0 && i + 3 < bytes.length; i = bytes.indexOf(CR, i + 1)) {
    if (bytes[i + 1] === LF && bytes[i + 2] === CR && bytes[i + 3] === LF) return i;
  }
  return -1;
}
