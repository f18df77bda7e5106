/**
 * `sseResponse()`: turns an async iterable of events into a `text/event-stream` Response, with a
 * retry hint, heartbeats from ONE shared timer, and prompt clean-up when the client goes away.
 *
 * @module
 */

import { encodeEvent, type ServerSentEvent } from "./encoder.ts";
import { heartbeatHub, type HeartbeatTarget } from "./_heartbeats.ts";
import { directPushResponse, isServedDirectly } from "./direct.ts";
import { DrainWaiters, LazyAbort, sseHeaders, type SsePushOptions, type SseSink } from "./_sink.ts";

export { SSE_HEADERS } from "./_sink.ts";
export type { SsePushOptions, SseResponseOptions, SseSink } from "./_sink.ts";

/** What a stream may yield: an event to encode, or bytes already encoded (shared between streams). */
export type SseChunk = ServerSentEvent | Uint8Array;

/** A source of chunks, or a function making one from the stream's abort signal. */
export type SseSource =
  | AsyncIterable<SseChunk>
  | ((signal: AbortSignal) => AsyncIterable<SseChunk>);

const encoder = new TextEncoder();

/**
 * Builds a streaming Response fed by pushes: `run` gets a sink, whose signal aborts when the client
 * leaves or `options.signal` fires, and writes whenever it likes; the stream ends when it calls
 * `close()` or its promise settles.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ssePushResponse } from "./response.ts";
 * const response = ssePushResponse(async (sink) => {
 *   sink.write(new TextEncoder().encode("data: pushed\n\n"));
 *   sink.close();
 * }, { heartbeatMs: 0 });
 * assert.equal(await response.text(), "data: pushed\n\n");
 * ```
 */
export function ssePushResponse(
  run: (sink: SseSink) => Promise<void>,
  options: SsePushOptions = {},
): Response {
  if (options.request && isServedDirectly(options.request)) return directPushResponse(run, options);
  const abort = new LazyAbort();
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
  const drainWaiters = new DrainWaiters();
  const finish = () => {
    if (finished) return;
    finished = true;
    if (target) heartbeats?.delete(target);
    external?.removeEventListener("abort", onExternalAbort);
    abort.abort();
    drainWaiters.wake(false);
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
      return drainWaiters.wait(signal);
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
      drainWaiters.wake(true);
    },
    cancel() {
      finish();
    },
  }, { highWaterMark: options.bufferBytes ?? 1_048_576, size: (chunk) => chunk.byteLength });

  return new Response(body, { status: 200, headers: sseHeaders(options.headers) });
}

/**
 * Builds the streaming Response from an async iterable (typically an async generator). The
 * source's `finally` runs promptly when the client disconnects, even while the source is idle,
 * provided its waits honour the signal it is given.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sseResponse } from "./response.ts";
 * async function* greetings() {
 *   yield { event: "greeting", data: "hello" };
 * }
 * const response = sseResponse(greetings(), { retryMs: 1000, heartbeatMs: 0 });
 * const text = await response.text();
 * assert.equal(text, "retry: 1000\n\nevent: greeting\ndata: hello\n\n");
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
 * import assert from "node:assert/strict";
 * import { streamFinished } from "./response.ts";
 * assert.equal(streamFinished().status, 204);
 * ```
 */
export function streamFinished(headers?: HeadersInit): Response {
  return new Response(null, { status: 204, headers });
}
