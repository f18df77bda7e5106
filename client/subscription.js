// @ts-check
/**
 * A live subscription: the public face of the client. It holds the state, tells listeners what
 * happens (`statechange`, `reset`, `error`) and hands out the events; a {@linkcode Reconnector}
 * keeps it connected.
 *
 * @module
 */

import { EventDelivery } from "./event_delivery.js";
import { messageOf, reportLater, SubscriptionError } from "./errors.js";
import { validated } from "./options.js";
import { Reconnector } from "./reconnector.js";

/**
 * Where a subscription is: `"connecting"` until the first connection opens, `"open"` while events
 * can flow, `"reconnecting"` after an attempt failed or a connection dropped, `"closed"` for good.
 *
 * @typedef {"connecting" | "open" | "reconnecting" | "closed"} SubscriptionState
 */

/**
 * @typedef {import("./event_delivery.js").TidingsEvent} TidingsEvent
 * @typedef {import("./options.js").SubscribeOptions} SubscribeOptions
 */

/**
 * A live subscription: iterate it (`for await`), or listen per event type with `on()`. It is an
 * `EventTarget` for its own notifications: `"statechange"`, `"reset"` (the hub lost the history
 * after `lastEventId`: re-fetch your state) and `"error"` (detail: a {@linkcode SubscriptionError},
 * for every failed attempt and for the final one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subscribe } from "./tidings_client.js";
 * const events = 'id: 1\nevent: price_update\ndata: {"symbol":"AAPL"}\n\n';
 * let requests = 0;
 * const hub = () =>
 *   Promise.resolve(++requests === 1
 *     ? new Response(events, { headers: { "content-type": "text/event-stream" } })
 *     : new Response(null, { status: 204 }));
 * const subscription = subscribe("https://hub.example/feeds/stocks", { topics: [], fetch: hub, minDelayMs: 0 });
 * const states: string[] = [];
 * subscription.onstatechange = () => states.push(subscription.state);
 * await subscription.closed;
 * assert.deepEqual(states, ["open", "reconnecting", "closed"]);
 * ```
 */
export class Subscription extends EventTarget {
  /**
   * Called on every state change.
   *
   * @type {((event: CustomEvent) => void) | null}
   */
  onstatechange = null;
  /**
   * Called when the hub lost the history.
   *
   * @type {((event: CustomEvent) => void) | null}
   */
  onreset = null;
  /**
   * Called on every error.
   *
   * @type {((event: CustomEvent<SubscriptionError>) => void) | null}
   */
  onerror = null;

  #controller = new AbortController();
  /** @type {SubscriptionState} */
  #state = "connecting";
  /** @type {SubscriptionError | undefined} */
  #error;
  #delivery = new EventDelivery();
  /** @type {Reconnector} */
  #reconnector;
  /** @type {AbortSignal | undefined} */
  #externalSignal;
  /** @type {Promise<void>} */
  #closed;
  #onExternalAbort = () => void this.close();
  /** @type {URL} */
  #hubUrl;

  /**
   * Use `subscribe`, which calls this.
   *
   * @param {string | URL} hubUrl
   * @param {SubscribeOptions} options
   */
  constructor(hubUrl, options) {
    super();
    const url = this.#hubUrl = new URL(hubUrl, pageHref());
    const settings = validated(options);
    const chosen = options.fetch;
    /** @type {typeof fetch} */
    const fetcher = chosen
      ? (input, init) => chosen(input, init)
      : (input, init) => fetch(input, init);
    this.#reconnector = new Reconnector({
      hubUrl: url,
      settings,
      fetch: fetcher,
      signal: this.#controller.signal,
      lastEventId: options.lastEventId,
      host: {
        state: (state) => this.#setState(state),
        event: (event) => this.#delivery.deliver(event),
        reset: (detail) => this.#notify("reset", detail),
        error: (error) => this.#notify("error", error),
      },
    });
    const external = this.#externalSignal = options.signal;
    if (external?.aborted) this.#controller.abort();
    else external?.addEventListener("abort", this.#onExternalAbort, { once: true });
    this.#closed = this.#reconnector.run()
      .then((error) => {
        this.#error = error;
      }, (error) => {
        this.#error = new SubscriptionError(`client failure: ${messageOf(error)}`, {
          cause: error,
        });
      })
      .then(() => this.#shutDown());
  }

  /**
   * The current state.
   *
   * @returns {SubscriptionState}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("https://hub.example/feeds/orders/o-1", {
   *   topics: [],
   *   fetch: () => Promise.resolve(new Response(null, { status: 204 })), // the order is complete
   * });
   * assert.equal(subscription.state, "connecting");
   * await subscription.closed;
   * assert.deepEqual([subscription.state, subscription.error], ["closed", undefined]);
   * ```
   */
  get state() {
    return this.#state;
  }

  /**
   * The id of the last event received (or the one given to resume from): where a reconnection
   * resumes.
   *
   * @returns {string | undefined}
   */
  get lastEventId() {
    return this.#reconnector.lastEventId;
  }

  /**
   * The transport of the current (or next) connection.
   *
   * @returns {"sse" | "websocket"}
   */
  get transport() {
    return this.#reconnector.transport;
  }

  /**
   * Why the subscription closed, when the hub refused it for good (401, 403, 404, …).
   *
   * @returns {SubscriptionError | undefined}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("https://hub.example/nowhere", {
   *   topics: ["x"],
   *   fetch: () => Promise.resolve(new Response("not found", { status: 404 })),
   * });
   * await subscription.closed;
   * assert.deepEqual([subscription.error?.status, subscription.error?.reason], [404, "not found"]);
   * ```
   */
  get error() {
    return this.#error;
  }

  /**
   * Resolves once the subscription is closed and every connection and timer is released.
   *
   * @returns {Promise<void>}
   */
  get closed() {
    return this.#closed;
  }

  /**
   * The topic selectors of the current (or next) connection.
   *
   * @returns {readonly string[]}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/.well-known/mercure", {
   *   topics: ["clock", "stocks"],
   *   signal: AbortSignal.abort(),
   * });
   * assert.deepEqual(subscription.topics, ["clock", "stocks"]);
   * await subscription.closed;
   * ```
   */
  get topics() {
    return this.#reconnector.topics;
  }

  /**
   * Switches this subscription to another set of topic selectors: its connection ends, and a new
   * one on the new set resumes after {@linkcode Subscription.lastEventId}. Topics in both sets
   * lose and repeat no event (a hub's event ids are positions in one log); the added ones start
   * after that event. Never two connections at once: one stream carries every topic, which is how a
   * page stays within the browser's six HTTP/1.1 connections per origin. Listeners, iterations
   * and the state carry over (no `"reconnecting"` for a switch). `hubUrl` also changes the URL
   * (e.g. a query parameter); relative URLs are resolved against the page.
   *
   * @param {readonly string[]} topics
   * @param {{ hubUrl?: string | URL }} [options]
   * @returns {Promise<void>} settles once a connection on the new set is open (or the
   * subscription closed)
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/.well-known/mercure", {
   *   topics: ["clock"],
   *   signal: AbortSignal.abort(),
   * });
   * await subscription.closed;
   * await subscription.switchTopics(["clock", "orders/o-1"]); // closed: settles at once
   * assert.deepEqual(subscription.topics, ["clock"]);
   * ```
   */
  switchTopics(topics, options = {}) {
    const url = options.hubUrl === undefined ? this.#hubUrl : new URL(options.hubUrl, pageHref());
    this.#hubUrl = url;
    return this.#reconnector.switchTopics(topics, url);
  }

  /**
   * Calls `callback` for every event of `type` (`"message"` for events published without one).
   *
   * @param {string} type
   * @param {(event: TidingsEvent) => void} callback
   * @returns {() => void} removes the listener
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { subscribe } from "./tidings_client.js";
   * let requests = 0;
   * const hub = () =>
   *   Promise.resolve(++requests === 1
   *     ? new Response('id: 1\nevent: price_update\ndata: {"price":10}\n\n', {
   *       headers: { "content-type": "text/event-stream" },
   *     })
   *     : new Response(null, { status: 204 }));
   * const subscription = subscribe("https://hub.example/feeds/stocks", { topics: [], fetch: hub, minDelayMs: 0 });
   * const prices: unknown[] = [];
   * subscription.on("price_update", (event) => prices.push(event.json()));
   * await subscription.closed;
   * assert.deepEqual(prices, [{ price: 10 }]);
   * ```
   */
  on(type, callback) {
    return this.#delivery.on(type, callback);
  }

  /**
   * Closes the subscription: the connection, every timer and every iteration end.
   *
   * @returns {Promise<void>} resolves when everything is released
   */
  close() {
    this.#controller.abort();
    return this.#closed;
  }

  /**
   * Iterates the events that arrive from now on, until the subscription closes. Leaving the loop
   * ends only this iteration; {@linkcode Subscription.close} ends the subscription. After a final
   * refusal the iteration throws the {@linkcode SubscriptionError}.
   *
   * @returns {AsyncIterableIterator<TidingsEvent>}
   */
  [Symbol.asyncIterator]() {
    return this.#delivery.iterate();
  }

  /** @param {SubscriptionState} state */
  #setState(state) {
    if (this.#state === state) return;
    const previous = this.#state;
    this.#state = state;
    this.#notify("statechange", { state, previous });
  }

  /**
   * @param {"statechange" | "reset" | "error"} type
   * @param {unknown} detail
   */
  #notify(type, detail) {
    const event = new CustomEvent(type, { detail });
    const handler = type === "statechange"
      ? this.onstatechange
      : type === "reset"
      ? this.onreset
      : this.onerror;
    try {
      handler?.call(this, /** @type {CustomEvent<any>} */ (event));
    } catch (error) {
      reportLater(error);
    }
    this.dispatchEvent(event);
  }

  #shutDown() {
    this.#controller.abort();
    this.#externalSignal?.removeEventListener("abort", this.#onExternalAbort);
    if (this.#error) this.#notify("error", this.#error);
    this.#setState("closed");
    this.#delivery.finish(this.#error);
  }
}

/** @returns {string | undefined} the page's address in a browser */
function pageHref() {
  try {
    return globalThis.location?.href;
  } catch {
    return undefined; // Deno without --location
  }
}
