// @ts-check
/**
 * The options of a subscription: checked once, and turned into the URL each transport asks for.
 *
 * @module
 */

/**
 * Options of `subscribe`.
 *
 * @typedef {object} SubscribeOptions
 * @property {readonly string[]} topics Mercure topic selectors (`*`, exact topics, URI templates); may be
 * empty when the URL already names a feed (`/feeds/orders/{id}`).
 * @property {string} [lastEventId] Resume after this id (`"earliest"`: all retained history).
 * @property {string | (() => Promise<string>)} [token] Subscriber JWT, sent as
 * `Authorization: Bearer`; a function is called again before the token expires and after a 401.
 * @property {AbortSignal} [signal] Aborting it closes the subscription.
 * @property {number} [throttle] At most one event per topic per this many milliseconds.
 * @property {readonly string[]} [filter] `field:value` data filters, all required.
 * @property {"auto" | "sse" | "websocket"} [transport] Default `"auto"`: SSE, WebSocket when a
 * proxy breaks streaming.
 * @property {typeof fetch} [fetch] The fetch to use (tests, instrumentation).
 * @property {number} [minDelayMs] Backoff base until the hub sends `retry:` (default 500).
 * @property {number} [maxDelayMs] Backoff ceiling (default 30000).
 * @property {number} [heartbeatMs] The hub's heartbeat interval (default 15000): an event stream
 * silent for twice as long is dead (0: never assume so).
 * @property {number} [fallbackMs] After an automatic fallback, how long to stay on WebSocket before
 * trying SSE again (default 60000); doubled after each failed try, up to 32 times.
 */

/**
 * Checked options, defaults filled in.
 *
 * @typedef {object} Settings
 * @property {string[]} topics
 * @property {string[]} filter
 * @property {number | undefined} throttle
 * @property {"auto" | "sse" | "websocket"} transport
 * @property {string | (() => Promise<string>) | undefined} token
 * @property {AbortSignal | undefined} signal
 * @property {number} minDelayMs
 * @property {number} maxDelayMs
 * @property {number} heartbeatMs
 * @property {number} fallbackMs
 */

/**
 * Checks the options and fills in the defaults; throws a `TypeError` naming the bad option.
 *
 * @param {SubscribeOptions} options
 * @returns {Settings}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validated } from "./options.js";
 * const settings = validated({ topics: ["news"] });
 * assert.deepEqual([settings.transport, settings.minDelayMs, settings.maxDelayMs], ["auto", 500, 30_000]);
 * assert.throws(() => validated({ topics: ["news"], throttle: 0.5 }), {
 *   name: "TypeError",
 *   message: "subscribe: throttle must be a positive integer (milliseconds)",
 * });
 * ```
 */
export function validated(options) {
  const topics = checkedTopics(options?.topics);
  const transport = options.transport ?? "auto";
  if (!["auto", "sse", "websocket"].includes(transport)) {
    throw new TypeError('subscribe: transport must be "auto", "sse" or "websocket"');
  }
  const { throttle } = options;
  if (throttle !== undefined && !(Number.isInteger(throttle) && throttle >= 1)) {
    throw new TypeError("subscribe: throttle must be a positive integer (milliseconds)");
  }
  /** @param {keyof SubscribeOptions} name @param {number} fallback */
  const duration = (name, fallback) => {
    const value = options[name] ?? fallback;
    if (typeof value !== "number" || !(value >= 0)) {
      throw new TypeError(`subscribe: ${name} must be a number of milliseconds`);
    }
    return value;
  };
  return {
    topics,
    filter: [...(options.filter ?? [])],
    throttle,
    transport,
    token: options.token,
    signal: options.signal,
    minDelayMs: duration("minDelayMs", 500),
    maxDelayMs: duration("maxDelayMs", 30_000),
    heartbeatMs: duration("heartbeatMs", 15_000),
    fallbackMs: duration("fallbackMs", 60_000),
  };
}

/**
 * A copy of `topics` once checked to be an array of strings; throws a `TypeError` otherwise.
 *
 * @param {unknown} topics
 * @returns {string[]}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkedTopics } from "./options.js";
 * assert.deepEqual(checkedTopics(["clock", "games/{id}"]), ["clock", "games/{id}"]);
 * assert.throws(() => checkedTopics("clock"), TypeError);
 * ```
 */
export function checkedTopics(topics) {
  if (!Array.isArray(topics) || topics.some((topic) => typeof topic !== "string")) {
    throw new TypeError("subscribe: topics must be an array of strings");
  }
  return [...topics];
}

/**
 * The URL one transport asks for: the hub's URL with the topics, throttle and filters; for
 * WebSocket also the resume point and the token as query parameters (a browser cannot send
 * headers with a WebSocket).
 *
 * @param {URL} hubUrl
 * @param {Settings} settings
 * @param {"sse" | "websocket"} kind
 * @param {string | undefined} lastEventId
 * @param {string} [token]
 * @returns {string}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subscriptionUrl, validated } from "./options.js";
 * const hub = new URL("https://hub.example/.well-known/mercure");
 * const url = subscriptionUrl(hub, validated({ topics: ["a"] }), "websocket", "e-1");
 * assert.equal(url, "wss://hub.example/.well-known/mercure?topic=a&lastEventID=e-1");
 * ```
 */
export function subscriptionUrl(hubUrl, settings, kind, lastEventId, token) {
  const url = new URL(hubUrl);
  const { topics, throttle, filter } = settings;
  for (const topic of topics) url.searchParams.append("topic", topic);
  if (throttle !== undefined) url.searchParams.set("throttle", String(throttle));
  for (const condition of filter) url.searchParams.append("filter", condition);
  if (kind === "websocket") {
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (lastEventId !== undefined) url.searchParams.set("lastEventID", lastEventId);
    if (token) url.searchParams.set("authorization", token);
  }
  return url.href;
}
