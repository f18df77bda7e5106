/**
 * What every event stream shares, whoever writes it: the headers, the options, the sink a push
 * source writes to, and the two pieces of state both sinks keep — a lazily created abort signal and
 * the writers waiting for the buffer to drain. `response.ts` (a `ReadableStream` body, for
 * `Deno.serve`) and `direct.ts` (straight to the socket, for the direct listener) implement
 * {@link SseSink} on top of these.
 *
 * @module
 */

/** Headers every event stream carries. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/**
 * The headers of an event stream: the caller's, then {@link SSE_HEADERS} for any not given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sseHeaders } from "./_sink.ts";
 * const headers = sseHeaders({ "cache-control": "private" });
 * assert.equal(headers.get("cache-control"), "private");
 * assert.equal(headers.get("content-type"), "text/event-stream");
 * ```
 */
export function sseHeaders(extra?: HeadersInit): Headers {
  const headers = new Headers(extra);
  for (const [name, value] of Object.entries(SSE_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return headers;
}

/** Options of an event stream response. */
export interface SseResponseOptions {
  /** Aborting it ends the stream at once, dropping unsent bytes (client gone, slow consumer). */
  signal?: AbortSignal;
  /** Interval of heartbeat comments; 0 disables them. Default 15000. */
  heartbeatMs?: number;
  /** Reconnection hint sent first. */
  retryMs?: number;
  /** Extra response headers. */
  headers?: HeadersInit;
  /** Called once when the stream ends for any reason. */
  onClose?: () => void;
  /**
   * The request being answered: the stream ends when its client goes (its signal aborts). When the
   * direct listener serves it, the stream is written straight to its connection (see
   * `direct.ts`) instead of through a `ReadableStream`.
   */
  request?: Request;
}

/** Options of a push stream. */
export interface SsePushOptions extends SseResponseOptions {
  /** Bound of the outgoing buffer in bytes. Default 1 MiB. */
  bufferBytes?: number;
}

/**
 * Where a push source writes: a bounded outgoing buffer in front of the connection.
 */
export interface SseSink {
  /**
   * Aborts when the stream ends, whatever ends it (client gone, dropped, closed): the source's
   * waits end with it. Created when first read.
   */
  readonly signal: AbortSignal;
  /**
   * Queues bytes for the client. Returns false when the buffer is past its bound (the client is
   * not reading fast enough); the bytes are queued all the same.
   */
  write(chunk: Uint8Array): boolean;
  /** Resolves `true` once the buffer is below its bound again, `false` if the stream ended. */
  drained(signal: AbortSignal): Promise<boolean>;
  /** Ends the stream after what was written. */
  close(): void;
  /** Ends the stream at once, dropping what is not sent yet (a client too slow to keep up). */
  abort(): void;
}

/** What runs a push stream: writes to the sink until done. */
export type PushRun = (sink: SseSink) => Promise<void>;

/**
 * An abort signal made only when first read (most streams never read theirs), aborted when the
 * stream ends — even if that was before it was read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LazyAbort } from "./_sink.ts";
 * const lazy = new LazyAbort();
 * lazy.abort();
 * assert.equal(lazy.signal.aborted, true);
 * ```
 */
export class LazyAbort {
  #controller: AbortController | undefined;
  #aborted = false;

  /** The signal, created on first read. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  /** Aborts the signal, now or when it is created. */
  abort(): void {
    this.#aborted = true;
    this.#controller?.abort();
  }
}

/**
 * The writers waiting for a sink's buffer to drain: each resolves `true` when it drains, `false`
 * when the stream ends or the writer's own signal aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DrainWaiters } from "./_sink.ts";
 * const waiters = new DrainWaiters();
 * const drained = waiters.wait(new AbortController().signal);
 * waiters.wake(true);
 * assert.equal(await drained, true);
 * ```
 */
export class DrainWaiters {
  #waiters: Array<(drained: boolean) => void> | undefined;

  /** Waits for {@link wake}, or `false` once `signal` aborts. */
  wait(signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const onAbort = () => resolve(false);
      signal.addEventListener("abort", onAbort, { once: true });
      (this.#waiters ??= []).push((drained) => {
        signal.removeEventListener("abort", onAbort);
        resolve(drained);
      });
    });
  }

  /** Resolves every waiter with `drained`. */
  wake(drained: boolean): void {
    const waiters = this.#waiters;
    if (!waiters) return;
    this.#waiters = undefined;
    for (const resolve of waiters) resolve(drained);
  }
}
