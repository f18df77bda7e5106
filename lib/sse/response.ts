/**
 * `sseResponse()`: turns an async iterable of events into a `text/event-stream` Response, with a
 * retry hint, heartbeats from ONE shared timer, and prompt clean-up when the client goes away.
 *
 * @module
 */

import { encodeEvent, type ServerSentEvent } from "./encoder.ts";
import { heartbeatHub, type HeartbeatTarget } from "./heartbeats.ts";
import { directPushResponse, isServedDirectly } from "./direct.ts";

/** What a stream may yield: an event to encode, or bytes already encoded (shared between streams). */
export type SseChunk = ServerSentEvent | Uint8Array;

/** A source of chunks, or a function making one from the stream's abort signal. */
export type SseSource =
  | AsyncIterable<SseChunk>
  | ((signal: AbortSignal) => AsyncIterable<SseChunk>);

/** Options of {@link sseResponse}. */
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
   * `direct_stream.ts`) instead of through a `ReadableStream`.
   */
  request?: Request;
}

const encoder = new TextEncoder();

/** Headers every event stream carries. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

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

/** Options of {@link ssePushResponse}. */
export interface SsePushOptions extends SseResponseOptions {
  /** Bound of the outgoing buffer in bytes. Default 1 MiB. */
  bufferBytes?: number;
}

/**
 * Builds a streaming Response fed by pushes: `run` gets a sink, whose signal aborts when the client
 * leaves or `options.signal` fires, and writes whenever it likes; the stream ends when it calls
 * `close()` or its promise settles.
 *
 * @example
 * ```ts
 * import { ssePushResponse } from "./response.ts";
 * const response = ssePushResponse(async (sink) => {
 *   sink.write(new TextEncoder().encode("data: pushed\n\n"));
 *   sink.close();
 * }, { heartbeatMs: 0 });
 * console.assert((await response.text()) === "data: pushed\n\n");
 * ```
 */
export function ssePushResponse(
  run: (sink: SseSink) => Promise<void>,
  options: SsePushOptions = {},
): Response {
  if (options.request && isServedDirectly(options.request)) return directPushResponse(run, options);
  let abort: AbortController | undefined;
  // The client leaving (the request's signal) ends the stream like `options.signal` does.
  const external = options.request
    ? (options.signal
      ? AbortSignal.any([options.request.signal, options.signal])
      : options.request.signal)
    : options.signal;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const heartbeats = heartbeatMs > 0 ? heartbeatHub(heartbeatMs) : undefined;
  let target: HeartbeatTarget | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let finished = false;
  let drainWaiters: Array<(drained: boolean) => void> = [];

  const wakeDrainWaiters = (drained: boolean) => {
    const waiters = drainWaiters;
    drainWaiters = [];
    for (const resolve of waiters) resolve(drained);
  };
  const finish = () => {
    if (finished) return;
    finished = true;
    if (target) heartbeats?.delete(target);
    external?.removeEventListener("abort", onExternalAbort);
    abort?.abort();
    wakeDrainWaiters(false);
    options.onClose?.();
  };
  const onExternalAbort = () => {
    try {
      // Deno prints a body error: keep it to one line, no stack.
      const reason = new Error("tidings: stream dropped by the server (client gone or too slow)");
      reason.stack = reason.message;
      controller.error(reason);
    } catch {
      // already closed
    }
    finish();
  };
  const sink: SseSink = {
    get signal() {
      if (!abort) {
        abort = new AbortController();
        if (finished) abort.abort();
      }
      return abort.signal;
    },
    write(chunk) {
      if (finished) return false;
      controller.enqueue(chunk);
      if (target) target.wrote = true;
      return (controller.desiredSize ?? 0) > 0;
    },
    drained(signal) {
      if (finished) return Promise.resolve(false);
      if ((controller.desiredSize ?? 0) > 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const onAbort = () => resolve(false);
        signal.addEventListener("abort", onAbort, { once: true });
        drainWaiters.push((drained) => {
          signal.removeEventListener("abort", onAbort);
          resolve(drained);
        });
      });
    },
    close() {
      if (finished) return;
      try {
        controller.close();
      } catch {
        // already closed
      }
      finish();
    },
    abort() {
      if (!finished) onExternalAbort();
    },
  };

  const body = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
      if (options.retryMs !== undefined) {
        controller.enqueue(encoder.encode(encodeEvent({ retry: options.retryMs })));
      }
      if (heartbeats) {
        heartbeats.add(
          target = {
            wrote: false,
            idle: 0,
            beat(bytes) {
              try {
                const desired = controller.desiredSize;
                if (desired === null) return false;
                if (desired > 0) controller.enqueue(bytes);
                return true;
              } catch {
                return false;
              }
            },
          },
        );
      }
      if (external?.aborted) return onExternalAbort();
      external?.addEventListener("abort", onExternalAbort, { once: true });
      run(sink).then(() => sink.close(), (error) => {
        if (finished) return;
        controller.error(error);
        finish();
      });
    },
    pull() {
      wakeDrainWaiters(true);
    },
    cancel() {
      finish();
    },
  }, { highWaterMark: options.bufferBytes ?? 1_048_576, size: (chunk) => chunk.byteLength });

  const headers = new Headers(options.headers);
  for (const [name, value] of Object.entries(SSE_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return new Response(body, { status: 200, headers });
}

/**
 * Builds the streaming Response from an async iterable (typically an async generator). The
 * source's `finally` runs promptly when the client disconnects, even while the source is idle,
 * provided its waits honour the signal it is given.
 *
 * @example
 * ```ts
 * import { sseResponse } from "./response.ts";
 * async function* greetings() {
 *   yield { event: "greeting", data: "hello" };
 * }
 * const response = sseResponse(greetings(), { retryMs: 1000, heartbeatMs: 0 });
 * const text = await response.text();
 * console.assert(text === "retry: 1000\n\nevent: greeting\ndata: hello\n\n");
 * ```
 */
export function sseResponse(source: SseSource, options: SsePushOptions = {}): Response {
  return ssePushResponse(async (sink) => {
    const signal = sink.signal;
    const iterable = typeof source === "function" ? source(signal) : source;
    const iterator = iterable[Symbol.asyncIterator]();
    const stop = () => void iterator.return?.()?.catch(() => {});
    signal.addEventListener("abort", stop, { once: true });
    try {
      while (!signal.aborted) {
        const result = await iterator.next();
        if (result.done || signal.aborted) return;
        const chunk = result.value;
        const fits = sink.write(
          chunk instanceof Uint8Array ? chunk : encoder.encode(encodeEvent(chunk)),
        );
        if (!fits && !(await sink.drained(signal))) return;
      }
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }, { bufferBytes: 65_536, ...options });
}

/**
 * The answer for a stream that is finished for good: 204 stops `EventSource` reconnecting.
 *
 * @example
 * ```ts
 * import { streamFinished } from "./response.ts";
 * console.assert(streamFinished().status === 204);
 * ```
 */
export function streamFinished(headers?: HeadersInit): Response {
  return new Response(null, { status: 204, headers });
}
