/**
 * `sseResponse()`: turns an async iterable of events into a `text/event-stream` Response, with a
 * retry hint, heartbeats from ONE shared timer, and prompt clean-up when the client goes away.
 *
 * @module
 */

import { encodeComment, encodeEvent, type ServerSentEvent } from "./sse_encoder.ts";

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
}

const encoder = new TextEncoder();

interface HeartbeatTarget {
  controller: ReadableStreamDefaultController<Uint8Array>;
  lastWrite: number;
}

/** One timer per interval for every open stream. */
class HeartbeatHub {
  readonly #targets = new Set<HeartbeatTarget>();
  readonly #bytes = encoder.encode(encodeComment(""));
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  add(target: HeartbeatTarget): void {
    this.#targets.add(target);
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.#beat(), Math.max(25, this.#intervalMs / 2));
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
  }

  delete(target: HeartbeatTarget): void {
    this.#targets.delete(target);
    if (this.#targets.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #beat(): void {
    const due = performance.now() - this.#intervalMs * 0.9;
    for (const target of this.#targets) {
      if (target.lastWrite > due) continue;
      const desired = target.controller.desiredSize;
      if (desired === null || desired <= 0) continue;
      target.lastWrite = performance.now();
      try {
        target.controller.enqueue(this.#bytes);
      } catch {
        this.#targets.delete(target);
      }
    }
  }
}

const heartbeatHubs = new Map<number, HeartbeatHub>();

function heartbeatHub(intervalMs: number): HeartbeatHub {
  let hub = heartbeatHubs.get(intervalMs);
  if (!hub) heartbeatHubs.set(intervalMs, hub = new HeartbeatHub(intervalMs));
  return hub;
}

/** Headers every event stream carries. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/**
 * Builds the streaming Response. The source's `finally` runs promptly when the client
 * disconnects, even while the source is idle, provided the source's own waits honour the signal
 * it is given.
 *
 * @example
 * ```ts
 * import { sseResponse } from "./sse_response.ts";
 * async function* greetings() {
 *   yield { event: "greeting", data: "hello" };
 * }
 * const response = sseResponse(greetings(), { retryMs: 1000, heartbeatMs: 0 });
 * const text = await response.text();
 * console.assert(text === "retry: 1000\n\nevent: greeting\ndata: hello\n\n");
 * ```
 */
export function sseResponse(source: SseSource, options: SseResponseOptions = {}): Response {
  const abort = new AbortController();
  const external = options.signal;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const hub = heartbeatMs > 0 ? heartbeatHub(heartbeatMs) : undefined;
  let iterator: AsyncIterator<SseChunk> | undefined;
  let target: HeartbeatTarget | undefined;
  let finished = false;

  const finish = () => {
    if (finished) return;
    finished = true;
    if (target) hub?.delete(target);
    external?.removeEventListener("abort", onExternalAbort);
    if (!abort.signal.aborted) abort.abort();
    iterator?.return?.().catch(() => {});
    options.onClose?.();
  };
  let streamController: ReadableStreamDefaultController<Uint8Array> | undefined;
  const onExternalAbort = () => {
    try {
      streamController?.error(new DOMException("stream closed by the server", "AbortError"));
    } catch {
      // already closed
    }
    finish();
  };

  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      streamController = controller;
      if (options.retryMs !== undefined) {
        controller.enqueue(encoder.encode(encodeEvent({ retry: options.retryMs })));
      }
      const iterable = typeof source === "function" ? source(abort.signal) : source;
      iterator = iterable[Symbol.asyncIterator]();
      if (hub) hub.add(target = { controller, lastWrite: performance.now() });
      if (external?.aborted) onExternalAbort();
      else external?.addEventListener("abort", onExternalAbort, { once: true });
    },
    async pull(controller) {
      try {
        const result = await iterator!.next();
        if (finished) return;
        if (result.done) {
          controller.close();
          finish();
          return;
        }
        const chunk = result.value;
        controller.enqueue(
          chunk instanceof Uint8Array ? chunk : encoder.encode(encodeEvent(chunk)),
        );
        if (target) target.lastWrite = performance.now();
      } catch (error) {
        if (!finished) {
          controller.error(error);
          finish();
        }
      }
    },
    cancel() {
      finish();
    },
  }, { highWaterMark: 1 });

  const headers = new Headers(options.headers);
  for (const [name, value] of Object.entries(SSE_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value);
  }
  return new Response(body, { status: 200, headers });
}

/**
 * The answer for a stream that is finished for good: 204 stops `EventSource` reconnecting.
 *
 * @example
 * ```ts
 * import { streamFinished } from "./sse_response.ts";
 * console.assert(streamFinished().status === 204);
 * ```
 */
export function streamFinished(headers?: HeadersInit): Response {
  return new Response(null, { status: 204, headers });
}
