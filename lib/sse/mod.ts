/**
 * Server-Sent Events: the encoder, and the two writers of an event stream — a `ReadableStream`
 * body for `Deno.serve`, and a direct stream straight to the socket for the direct listener —
 * with heartbeats from one shared timer and optional compression. Code outside `lib/sse/` imports
 * from here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sseResponse } from "./mod.ts";
 * async function* greetings() {
 *   yield { event: "greeting", data: "hello\nworld" };
 * }
 * const response = sseResponse(greetings(), { heartbeatMs: 0 });
 * assert.equal(response.headers.get("content-type"), "text/event-stream");
 * assert.equal(await response.text(), "event: greeting\ndata: hello\ndata: world\n\n");
 * ```
 *
 * @module
 */

export * from "./encoder.ts";
export * from "./response.ts";
export * from "./direct.ts";
export * from "./compression.ts";
export type { PushRun, SsePushOptions, SseResponseOptions, SseSink } from "./_sink.ts";
