/**
 * A test client for event streams: opens one with fetch, parses it with the project's parser and
 * lets a test wait for a number of events with a bounded wait.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ParsedEvent, SseParser } from "../../client/sse_parser.js";

/**
 * How a stream ended: the server ended its body cleanly, the test closed it, or the connection
 * failed (a reset, a body cut short) with `error`.
 */
export type StreamEnd = { by: "server" } | { by: "client" } | { by: "error"; error: unknown };

/** An open event stream. */
export interface EventStreamHandle {
  response: Response;
  events: ParsedEvent[];
  comments: string[];
  retry: number | undefined;
  /** Resolves when `count` events arrived in total; rejects with what arrived after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ParsedEvent[]>;
  /** Resolves when the stream ended, saying how (a failure is not taken for a clean end). */
  ended: Promise<StreamEnd>;
  /** Resolves when the server ended the stream cleanly; rejects when it ended any other way. */
  endedByServer(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens an event stream and starts collecting its events.
 *
 * @example
 * ```ts
 * import { openEventStream } from "./sse_client.ts";
 * const stream = await openEventStream("http://127.0.0.1:8000/feeds/clock");
 * await stream.waitFor(1);
 * await stream.close();
 * ```
 */
export async function openEventStream(
  url: string,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<EventStreamHandle> {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  const handle: EventStreamHandle = {
    response,
    events: [],
    comments: [],
    retry: undefined,
    waitFor: () => Promise.resolve([]),
    ended: Promise.resolve({ by: "server" }),
    endedByServer: () => Promise.resolve(),
    close: async () => {},
  };
  let wake: () => void = () => {};
  const parser = new SseParser({
    onEvent: (event) => {
      handle.events.push(event);
      wake();
    },
    onRetry: (ms) => handle.retry = ms,
    onComment: (text) => handle.comments.push(text),
  });
  let end: StreamEnd | undefined;
  const describeEnd = (end: StreamEnd) =>
    end.by === "error" ? `failed (${end.error})` : `was ended by the ${end.by}`;
  handle.ended = (async (): Promise<StreamEnd> => {
    try {
      if (response.body) {
        for await (const chunk of response.body) parser.feed(chunk);
        parser.end();
      }
      end = { by: "server" };
    } catch (error) {
      end = controller.signal.aborted ? { by: "client" } : { by: "error", error };
    } finally {
      wake();
    }
    return end;
  })();
  handle.endedByServer = async () => {
    const end = await handle.ended;
    if (end.by !== "server") throw new Error(`the stream ${describeEnd(end)}, not by the server`);
  };
  handle.waitFor = async (count, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (handle.events.length < count) {
      if (end) {
        throw new Error(
          `stream ${describeEnd(end)} after ${handle.events.length} of ${count} events`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out with ${handle.events.length} of ${count} events from ${url}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return handle.events.slice(0, count);
  };
  handle.close = async () => {
    if (!end) controller.abort();
    await handle.ended;
  };
  return handle;
}

/**
 * Publishes one update to a hub; returns the hub's answer: status, body (the update's id when
 * accepted, else the reason) and headers.
 *
 * @example
 * ```ts
 * import { publish } from "./sse_client.ts";
 * await publish("http://127.0.0.1:8000", "token", { topic: "news", data: "hi" });
 * ```
 */
export async function publish(
  baseUrl: string,
  token: string,
  fields: Record<string, string | string[]>,
): Promise<{ status: number; body: string; headers: Headers }> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) form.append(name, item);
  }
  const response = await fetch(`${baseUrl}/.well-known/mercure`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/**
 * Opens an event stream, fails unless it is 200, and waits for its first bytes (the hub's retry
 * hint), so the hub has registered the subscription before the test publishes.
 *
 * @example
 * ```ts
 * import { openSubscribed } from "./sse_client.ts";
 * const stream = await openSubscribed("http://127.0.0.1:8000/.well-known/mercure?topic=news");
 * await stream.close();
 * ```
 */
export async function openSubscribed(
  url: string,
  init: RequestInit & { client?: Deno.HttpClient } = {},
): Promise<EventStreamHandle> {
  const stream = await openEventStream(url, init);
  if (stream.response.status !== 200) {
    const text = await stream.response.text().catch(() => "");
    throw new Error(`subscription refused: ${stream.response.status} ${text}`);
  }
  const deadline = Date.now() + 5000;
  while (stream.retry === undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (stream.retry === undefined) {
    await stream.close();
    throw new Error("the stream did not start with the hub's retry hint");
  }
  return stream;
}

/**
 * An event as the parser reports it, for exact comparisons.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsedEvent } from "./sse_client.ts";
 * assert.ok(parsedEvent("hi", "1").type === "message");
 * ```
 */
export function parsedEvent(data: string, lastEventId: string, type = "message"): ParsedEvent {
  return { type, data, lastEventId };
}

/**
 * Publishes one update that the hub must accept: asserts a 200 answer (the body, the hub's reason,
 * is the assertion message) and returns the answer, whose body is the update's id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { publishAccepted } from "./sse_client.ts";
 * const { body: id } = await publishAccepted("http://127.0.0.1:8000", "token", {
 *   topic: "news",
 *   data: "hi",
 * });
 * assert.ok(id !== "");
 * ```
 */
export async function publishAccepted(
  baseUrl: string,
  token: string,
  fields: Record<string, string | string[]>,
): Promise<{ status: number; body: string; headers: Headers }> {
  const result = await publish(baseUrl, token, fields);
  assert.equal(result.status, 200, result.body);
  return result;
}
