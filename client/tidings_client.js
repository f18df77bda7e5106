// @ts-check
/**
 * The tidings client: a Mercure subscription that survives the real world. It streams over
 * `fetch` (so it can send `Authorization`), reconnects with exponential backoff and full jitter,
 * resumes with `Last-Event-ID` (no event lost or repeated), refreshes short-lived tokens before they
 * expire, stops for good when the hub says so (204, 4xx), and falls back to WebSocket when a proxy
 * breaks streaming, returning to SSE once it works again.
 *
 * Plain ES-module JavaScript with JSDoc types: browsers load it as it is (`/client.js`, which
 * re-exports `/client/tidings_client.js`; its modules sit beside it under `/client/`), Deno
 * type-checks it. Web APIs only (fetch, ReadableStream, WebSocket, AbortController, setTimeout).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subscribe } from "./tidings_client.js";
 * const lastEventIds: (string | null)[] = [];
 * const hub = (_url: RequestInfo | URL, init?: RequestInit) => {
 *   lastEventIds.push(new Headers(init?.headers).get("last-event-id"));
 *   return Promise.resolve(lastEventIds.length === 1
 *     ? new Response('id: 1\ndata: {"n":1}\n\n', { headers: { "content-type": "text/event-stream" } })
 *     : new Response(null, { status: 204 })); // then the hub says: nothing more
 * };
 * const subscription = subscribe("https://hub.example/.well-known/mercure", {
 *   topics: ["news"],
 *   fetch: hub, // a stand-in for the hub; leave it out to use the global fetch
 *   minDelayMs: 0,
 * });
 * const received = [];
 * for await (const event of subscription) received.push([event.id, event.json()]);
 * assert.deepEqual(received, [["1", { n: 1 }]]);
 * assert.deepEqual(lastEventIds, [null, "1"]); // the reconnection resumed after event 1
 * ```
 *
 * @module
 */

import { Subscription } from "./subscription.js";

export { Subscription } from "./subscription.js";
export { SubscriptionError } from "./errors.js";
export { reconnectDelay } from "./backoff.js";
export { tokenRefreshTime } from "./token.js";

/**
 * @typedef {import("./subscription.js").SubscriptionState} SubscriptionState
 * @typedef {import("./event_delivery.js").TidingsEvent} TidingsEvent
 * @typedef {import("./options.js").SubscribeOptions} SubscribeOptions
 */

/**
 * The library's version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./tidings_client.js";
 * assert.match(VERSION, /^\d+\.\d+\.\d+$/);
 * ```
 */
export const VERSION = "0.1.0";

/**
 * Subscribes to a tidings (or any Mercure) hub.
 *
 * @param {string | URL} hubUrl the hub (`…/.well-known/mercure`) or a feed URL; relative URLs are
 * resolved against the page in a browser
 * @param {SubscribeOptions} options
 * @returns {Subscription}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subscribe } from "./tidings_client.js";
 * const controller = new AbortController();
 * const pending = (_url: RequestInfo | URL, init?: RequestInit) =>
 *   new Promise<Response>((_, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal?.reason)));
 * const subscription = subscribe("https://hub.example/.well-known/mercure", {
 *   topics: ["news"],
 *   signal: controller.signal,
 *   fetch: pending, // a hub that has not answered yet
 * });
 * controller.abort();
 * await subscription.closed;
 * assert.deepEqual([subscription.state, subscription.error], ["closed", undefined]);
 * ```
 */
export function subscribe(hubUrl, options) {
  return new Subscription(hubUrl, options);
}
