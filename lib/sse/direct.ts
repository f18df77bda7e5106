/**
 * Direct streams: when the direct listener (`lib/http1_server.ts`, `scripts/serve_direct.ts`)
 * serves a request, an event stream is written straight to the TCP connection — no
 * `ReadableStream`, no HTTP layer in between. The sink keeps at most one write in flight per
 * connection and coalesces everything queued behind it into the next write, so a burst of events
 * costs one system call per connection, not one per event.
 *
 * @module
 */

import { concatBytes } from "../util/bytes.ts";
import { encodeEvent } from "./encoder.ts";
import { heartbeatHub, type HeartbeatTarget } from "./_heartbeats.ts";
import {
  DrainWaiters,
  LazyAbort,
  type PushRun,
  sseHeaders,
  type SsePushOptions,
  type SseSink,
} from "./_sink.ts";

/** A connection handed over to a response that writes its own body. */
export interface DirectSocket {
  /** The raw connection; the stream writes to it and closes it when done. */
  conn: Deno.Conn;
  /** Registers what to call, once, when the peer closes or the connection fails. */
  onGone(callback: () => void): void;
}

const directRequests = new WeakSet<Request>();
const directResponses = new WeakMap<Response, { run: PushRun; options: SsePushOptions }>();

/**
 * Marks a request as served by the direct listener (done by the listener before routing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isServedDirectly, serveDirectly } from "./direct.ts";
 * const request = new Request("http://hub/");
 * assert.equal(isServedDirectly(request), false);
 * serveDirectly(request);
 * assert.equal(isServedDirectly(request), true);
 * ```
 */
export function serveDirectly(request: Request): void {
  directRequests.add(request);
}

/**
 * Whether the direct listener serves this request.
 */
export function isServedDirectly(request: Request): boolean {
  return directRequests.has(request);
}

/**
 * The response of a push stream on the direct listener: headers only; the listener takes the
 * connection over with {@link takeOverDirectStream} and the stream writes to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { directPushResponse, takeOverDirectStream } from "./direct.ts";
 * const response = directPushResponse(async (sink) => sink.close(), {});
 * assert.equal(response.headers.get("content-type"), "text/event-stream");
 * assert.notEqual(takeOverDirectStream(response), undefined);
 * assert.equal(takeOverDirectStream(new Response("x")), undefined);
 * ```
 */
export function directPushResponse(run: PushRun, options: SsePushOptions): Response {
  const response = new Response(null, { status: 200, headers: sseHeaders(options.headers) });
  directResponses.set(response, { run, options });
  return response;
}

/**
 * For the direct listener: how to write a response's body straight to its connection, if the
 * response is a direct stream.
 */
export function takeOverDirectStream(
  response: Response,
): ((socket: DirectSocket) => void) | undefined {
  const stream = directResponses.get(response);
  if (!stream) return undefined;
  directResponses.delete(response);
  return (socket) => startDirectStream(socket, stream.run, stream.options);
}

const encoder = new TextEncoder();

function noop(): void {}

function startDirectStream(socket: DirectSocket, run: PushRun, options: SsePushOptions): void {
  const sink = new ConnSink(socket.conn, options.bufferBytes ?? 1_048_576, options.onClose);
  const external = options.signal;
  const onGone = () => sink.abort();
  if (external?.aborted) return sink.abort();
  socket.onGone(onGone);
  if (external) {
    external.addEventListener("abort", onGone, { once: true });
    sink.cleanUp = () => external.removeEventListener("abort", onGone);
  }
  if (options.retryMs !== undefined) {
    sink.write(encoder.encode(encodeEvent({ retry: options.retryMs })));
  }
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  if (heartbeatMs > 0) sink.startHeartbeats(heartbeatMs);
  run(sink).then(() => sink.close(), () => sink.abort());
}

/** The bounded, coalescing outgoing buffer of one direct stream. */
class ConnSink implements SseSink, HeartbeatTarget {
  wrote = false;
  idle = 0;
  cleanUp: () => void = noop;
  readonly #conn: Deno.Conn;
  readonly #bound: number;
  readonly #onClose: (() => void) | undefined;
  readonly #abort = new LazyAbort();
  #queued: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #closing = false;
  #finished = false;
  #heartbeatMs = 0;
  readonly #drainWaiters = new DrainWaiters();

  constructor(conn: Deno.Conn, bound: number, onClose: (() => void) | undefined) {
    this.#conn = conn;
    this.#bound = bound;
    this.#onClose = onClose;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#finished || this.#closing) return false;
    this.wrote = true;
    if (this.#writing) {
      this.#queued.push(chunk);
      this.#queuedBytes += chunk.byteLength;
      return this.#queuedBytes < this.#bound;
    }
    this.#flush(chunk);
    return true;
  }

  drained(signal: AbortSignal): Promise<boolean> {
    if (this.#finished) return Promise.resolve(false);
    if (this.#queuedBytes < this.#bound) return Promise.resolve(true);
    return this.#drainWaiters.wait(signal);
  }

  close(): void {
    if (this.#finished || this.#closing) return;
    this.#closing = true;
    if (!this.#writing) this.#finish();
  }

  /** Ends at once, dropping unsent bytes (client gone, too slow, or the hub says so). */
  abort(): void {
    this.#finish();
  }

  beat(bytes: Uint8Array): boolean {
    if (this.#finished) return false;
    if (!this.#writing && !this.#closing) this.#flush(bytes);
    return true;
  }

  startHeartbeats(intervalMs: number): void {
    this.#heartbeatMs = intervalMs;
    heartbeatHub(intervalMs).add(this);
  }

  async #flush(first: Uint8Array): Promise<void> {
    this.#writing = true;
    let bytes = first;
    try {
      while (!this.#finished) {
        let offset = 0;
        while (offset < bytes.byteLength) {
          offset += await this.#conn.write(offset === 0 ? bytes : bytes.subarray(offset));
          if (this.#finished) return;
        }
        if (this.#queued.length === 0) break;
        bytes = this.#takeQueued();
      }
    } catch {
      this.#finish();
      return;
    } finally {
      this.#writing = false;
    }
    if (this.#closing) this.#finish();
  }

  #takeQueued(): Uint8Array {
    const queued = this.#queued;
    const size = this.#queuedBytes;
    this.#queued = [];
    this.#queuedBytes = 0;
    this.#drainWaiters.wake(true);
    return concatBytes(queued, size);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#queued = [];
    this.#queuedBytes = 0;
    if (this.#heartbeatMs > 0) heartbeatHub(this.#heartbeatMs).delete(this);
    this.cleanUp();
    this.#abort.abort();
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#drainWaiters.wake(false);
    this.#onClose?.();
  }
}
