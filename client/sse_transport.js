// @ts-check
/**
 * The Server-Sent Events transport: one `fetch` of `text/event-stream` (so it can send
 * `Authorization` and `Last-Event-ID`), parsed as it arrives, watched for silence.
 *
 * @module
 */

import { SseParser } from "./sse_parser.js";
import { Connection } from "./abortable.js";
import { messageOf, SubscriptionError } from "./errors.js";
import { refusalOf } from "./refusal.js";

/**
 * @typedef {import("./attempt.js").Attempt} Attempt
 * @typedef {import("./attempt.js").Outcome} Outcome
 */

/**
 * Runs one SSE connection until it ends, delivering its events; says how it ended.
 *
 * @param {Attempt} attempt
 * @returns {Promise<Outcome>}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectSse } from "./sse_transport.js";
 * const received: string[] = [];
 * const stream = 'id: 1\ndata: {"n":1}\n\n';
 * const outcome = await connectSse({
 *   url: () => "https://hub.example/.well-known/mercure?topic=news",
 *   token: undefined,
 *   lastEventId: undefined,
 *   signal: new AbortController().signal,
 *   fetch: () => Promise.resolve(new Response(stream, { headers: { "content-type": "text/event-stream" } })),
 *   heartbeatMs: 15_000,
 *   opened: () => () => {},
 *   received: (id, type, data) => received.push(`${id} ${type} ${data}`),
 *   retry: () => {},
 *   resumed: () => {},
 * });
 * assert.deepEqual(received, ['1 message {"n":1}']);
 * assert.equal(outcome.kind, "retry"); // the stream ended: reconnect and resume after id 1
 * ```
 */
export async function connectSse(attempt) {
  const connection = new Connection(attempt.signal);
  try {
    /** @type {Response} */
    let response;
    try {
      response = await attempt.fetch(attempt.url("sse"), {
        headers: sseHeaders(attempt.token, attempt.lastEventId),
        signal: connection.signal,
      });
    } catch (error) {
      const message = `network error: ${messageOf(error)}`;
      return {
        kind: "retry",
        suspect: true,
        error: new SubscriptionError(message, { cause: error }),
      };
    }
    const refusal = await refusalOf(response);
    if (refusal) return refusal;
    attempt.resumed(response.headers.get("last-event-id"));
    const cancelTimers = attempt.opened(connection);
    try {
      return await readEventStream(response, connection, attempt);
    } finally {
      cancelTimers();
    }
  } finally {
    connection.release();
  }
}

/**
 * Asks over plain HTTP (at most 5 s) whether the hub refuses this subscription: what a failed
 * WebSocket handshake cannot tell. `undefined` when it does not, or nobody answered.
 *
 * @param {Attempt} attempt
 * @returns {Promise<Outcome | undefined>}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { askForRefusal } from "./sse_transport.js";
 * const refusal = await askForRefusal({
 *   url: () => "https://hub.example/feeds/nowhere",
 *   token: undefined,
 *   lastEventId: undefined,
 *   signal: new AbortController().signal,
 *   fetch: () => Promise.resolve(new Response("unknown feed", { status: 404 })),
 *   heartbeatMs: 15_000,
 *   opened: () => () => {},
 *   received: () => {},
 *   retry: () => {},
 *   resumed: () => {},
 * });
 * assert.deepEqual([refusal?.kind, refusal?.error?.status], ["fatal", 404]);
 * ```
 */
export async function askForRefusal(attempt) {
  const connection = new Connection(attempt.signal);
  const timer = setTimeout(() => connection.abort(), 5_000);
  try {
    const response = await attempt.fetch(attempt.url("sse"), {
      headers: sseHeaders(attempt.token, attempt.lastEventId),
      signal: connection.signal,
    });
    const refusal = await refusalOf(response);
    if (!refusal) await response.body?.cancel().catch(() => {});
    return refusal;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    connection.release();
  }
}

/**
 * @param {string | undefined} token
 * @param {string | undefined} lastEventId
 * @returns {Record<string, string>}
 */
function sseHeaders(token, lastEventId) {
  /** @type {Record<string, string>} */
  const headers = { accept: "text/event-stream" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
  return headers;
}

/**
 * Reads an open event stream until it ends, breaks, falls silent or is ended on purpose.
 *
 * @param {Response} response
 * @param {Connection} connection
 * @param {Attempt} attempt
 * @returns {Promise<Outcome>}
 */
async function readEventStream(response, connection, attempt) {
  const reader = /** @type {ReadableStream<Uint8Array>} */ (response.body).getReader();
  const parser = new SseParser({
    // Nothing is delivered once the connection is ended (a switch resumes after what was).
    onEvent: (event) => {
      if (!connection.signal.aborted) {
        attempt.received(event.lastEventId, event.type, event.data, undefined);
      }
    },
    onRetry: (ms) => attempt.retry(ms),
  });
  const silenceMs = 2 * attempt.heartbeatMs;
  let receivedBytes = false;
  let silent = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let watchdog;
  const rearm = () => {
    clearTimeout(watchdog);
    if (silenceMs > 0) {
      watchdog = setTimeout(() => {
        silent = true;
        connection.abort();
      }, silenceMs);
    }
  };
  rearm();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.byteLength === 0) continue;
      receivedBytes = true;
      rearm();
      parser.feed(value);
    }
    const error = new SubscriptionError("the hub ended the stream");
    return { kind: "retry", opened: true, receivedBytes, error };
  } catch (error) {
    if (connection.onPurpose) {
      return { kind: "retry", opened: true, receivedBytes, onPurpose: true };
    }
    const message = !silent
      ? `stream broken: ${messageOf(error)}`
      : receivedBytes
      ? `no data for ${silenceMs} ms: reconnecting`
      : `no byte within ${silenceMs} ms: a proxy may be buffering the stream`;
    const outcomeError = new SubscriptionError(message, { cause: error });
    return {
      kind: "retry",
      opened: true,
      receivedBytes,
      silent: silent && !receivedBytes,
      error: outcomeError,
    };
  } finally {
    clearTimeout(watchdog);
    parser.end();
    await reader.cancel().catch(() => {});
  }
}
