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
 * import { subscribe } from "./tidings_client.js";
 * const subscription = subscribe("http://localhost:8000/.well-known/mercure", {
 *   topics: ["https://example.com/books/{id}"],
 *   signal: AbortSignal.timeout(1000),
 * });
 * subscription.on("message", (event) => console.log(event.id, event.json()));
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
 * import { VERSION } from "./tidings_client.js";
 * console.log(`tidings client ${VERSION}`);
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
 * import { subscribe } from "./tidings_client.js";
 * const controller = new AbortController();
 * const subscription = subscribe("http://localhost:8000/.well-known/mercure", {
 *   topics: ["news"],
 *   signal: controller.signal,
 * });
 * controller.abort();
 * await subscription.closed;
 * console.assert(subscription.state === "closed");
 * ```
 */
export function subscribe(hubUrl, options) {
  return new Subscription(hubUrl, options);
}
