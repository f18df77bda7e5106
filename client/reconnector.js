// @ts-check
/**
 * The loop behind a subscription: connect, deliver, and when the connection ends, wait (backoff
 * with full jitter, the hub's `retry:` and `Retry-After`) and connect again after the last event
 * received, until the subscription closes or the hub refuses it for good. It also refreshes a
 * token function's token before it expires, (auto mode) moves between SSE and WebSocket, and
 * switches to a new topic set by ending the connection and opening one on the new set, resuming
 * after the last event received.
 *
 * @module
 */

import { wait } from "./abortable.js";
import { reconnectDelay } from "./backoff.js";
import { messageOf, SubscriptionError } from "./errors.js";
import { checkedTopics, subscriptionUrl } from "./options.js";
import { connectSse } from "./sse_transport.js";
import { TokenSource } from "./token.js";
import { TransportChooser } from "./transport_choice.js";
import { connectWebSocket } from "./websocket_transport.js";

/**
 * @typedef {import("./abortable.js").Connection} Connection
 * @typedef {import("./attempt.js").Attempt} Attempt
 * @typedef {import("./attempt.js").Outcome} Outcome
 * @typedef {import("./event_delivery.js").TidingsEvent} TidingsEvent
 * @typedef {import("./options.js").Settings} Settings
 */

/**
 * What the loop tells its subscription.
 *
 * @typedef {object} ReconnectorHost
 * @property {(state: "open" | "reconnecting") => void} state The connection opened, or an attempt
 * failed or a connection dropped.
 * @property {(event: TidingsEvent) => void} event An event arrived.
 * @property {(detail: { requested: string }) => void} reset The hub lost the history after the
 * requested id and replays all it has.
 * @property {(error: SubscriptionError) => void} error An attempt failed (not the final error).
 */

/** A token refresh never ends a connection sooner than this after it opened. */
const MIN_REFRESH_DELAY_MS = 1_000;

/**
 * Keeps a subscription connected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Reconnector } from "./reconnector.js";
 * import { validated } from "./options.js";
 * const reconnector = new Reconnector({
 *   hubUrl: new URL("https://hub.example/feeds/no-such-feed"),
 *   settings: validated({ topics: [] }),
 *   fetch: () => Promise.resolve(new Response("unknown feed", { status: 404 })),
 *   signal: new AbortController().signal,
 *   lastEventId: undefined,
 *   host: { state() {}, event() {}, reset() {}, error() {} },
 * });
 * const finalError = await reconnector.run(); // a 404 is final: no retry
 * assert.deepEqual([finalError?.status, finalError?.reason], [404, "unknown feed"]);
 * ```
 */
export class Reconnector {
  #hubUrl;
  #settings;
  #fetch;
  #signal;
  #host;
  #tokens;
  #chooser;
  /** @type {"sse" | "websocket"} */
  #transport;
  /** @type {string | undefined} */
  #lastEventId;
  /** @type {number | undefined} The hub's `retry:`. */
  #retryMs;
  /** @type {Connection | undefined} The open connection, while there is one. */
  #open;
  /** @type {Array<() => void>} Settle the switches not yet open. */
  #switches = [];

  /**
   * @param {{ hubUrl: URL, settings: Settings, fetch: typeof fetch, signal: AbortSignal,
   *   lastEventId: string | undefined, host: ReconnectorHost }} options `signal` ends the loop
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Reconnector } from "./reconnector.js";
   * import { validated } from "./options.js";
   * const reconnector = new Reconnector({
   *   hubUrl: new URL("https://hub.example/.well-known/mercure"),
   *   settings: validated({ topics: ["news"], transport: "websocket" }),
   *   fetch,
   *   signal: AbortSignal.abort(),
   *   lastEventId: "e-1",
   *   host: { state() {}, event() {}, reset() {}, error() {} },
   * });
   * assert.equal(reconnector.transport, "websocket");
   * assert.equal(reconnector.lastEventId, "e-1");
   * ```
   */
  constructor({ hubUrl, settings, fetch, signal, lastEventId, host }) {
    this.#hubUrl = hubUrl;
    this.#settings = settings;
    this.#fetch = fetch;
    this.#signal = signal;
    this.#host = host;
    this.#tokens = new TokenSource(settings.token);
    this.#chooser = new TransportChooser(settings.transport, settings.fallbackMs);
    this.#transport = settings.transport === "websocket" ? "websocket" : "sse";
    this.#lastEventId = lastEventId;
  }

  /**
   * The id of the last event received (or the one given to resume from).
   *
   * @returns {string | undefined}
   */
  get lastEventId() {
    return this.#lastEventId;
  }

  /**
   * The transport of the current (or next) connection.
   *
   * @returns {"sse" | "websocket"}
   */
  get transport() {
    return this.#transport;
  }

  /**
   * The topic selectors of the current (or next) connection.
   *
   * @returns {readonly string[]}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Reconnector } from "./reconnector.js";
   * import { validated } from "./options.js";
   * const host = { state() {}, event() {}, reset() {}, error() {} };
   * const hubUrl = new URL("http://localhost:8000/.well-known/mercure");
   * const settings = validated({ topics: ["clock", "stocks"] });
   * const signal = AbortSignal.abort();
   * const reconnector = new Reconnector({ hubUrl, settings, fetch, signal, lastEventId: undefined, host });
   * assert.deepEqual(reconnector.topics, ["clock", "stocks"]);
   * ```
   */
  get topics() {
    return this.#settings.topics;
  }

  /**
   * Moves the subscription to another topic set (and, if given, hub URL): the open connection
   * ends and the next one asks for the new set, resuming after the last event received, so the
   * topics in both sets lose and repeat nothing, and the new ones start after that event. At
   * no time are two connections open. Without an open connection (connecting, or waiting to
   * reconnect) the next attempt uses the new set.
   *
   * @param {readonly string[]} topics
   * @param {URL} [hubUrl]
   * @returns {Promise<void>} settles when a connection on the new set opens, or the loop ends
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Reconnector } from "./reconnector.js";
   * import { validated } from "./options.js";
   * const host = { state() {}, event() {}, reset() {}, error() {} };
   * const hubUrl = new URL("http://localhost:8000/.well-known/mercure");
   * const settings = validated({ topics: ["clock"] });
   * const controller = new AbortController();
   * const reconnector = new Reconnector({
   *   hubUrl, settings, fetch, signal: controller.signal, lastEventId: undefined, host,
   * });
   * const switched = reconnector.switchTopics(["clock", "games/demo"]);
   * assert.deepEqual(reconnector.topics, ["clock", "games/demo"]);
   * controller.abort();
   * await reconnector.run(); // the signal is aborted: the loop ends, and so does the wait
   * await switched;
   * ```
   */
  switchTopics(topics, hubUrl = this.#hubUrl) {
    const checked = checkedTopics(topics);
    if (this.#signal.aborted) return Promise.resolve();
    const same = hubUrl.href === this.#hubUrl.href &&
      checked.length === this.#settings.topics.length &&
      checked.every((topic, index) => topic === this.#settings.topics[index]);
    if (same && this.#switches.length === 0) return Promise.resolve();
    this.#settings = { ...this.#settings, topics: checked };
    this.#hubUrl = hubUrl;
    this.#open?.endOnPurpose();
    return new Promise((resolve) => this.#switches.push(() => resolve(undefined)));
  }

  /**
   * Connects and reconnects until the signal aborts, the hub says the stream is finished (204) or
   * refuses it for good.
   *
   * @returns {Promise<SubscriptionError | undefined>} the final refusal, if any
   */
  async run() {
    const signal = this.#signal;
    let attempt = 0;
    let retriedUnauthorized = false;
    while (!signal.aborted) {
      const transport = this.#chooser.next;
      /** @type {Outcome | undefined} */
      let outcome;
      /** @type {string | undefined} */
      let token;
      try {
        token = await this.#tokens.current(signal);
      } catch (error) {
        const message = `the token function failed: ${messageOf(error)}`;
        outcome = { kind: "retry", error: new SubscriptionError(message, { cause: error }) };
      }
      if (signal.aborted) break;
      outcome ??= transport === "sse"
        ? await connectSse(this.#attempt("sse", token))
        : await connectWebSocket(this.#attempt("websocket", token));
      if (signal.aborted) break;
      if (outcome.kind === "finished") break;
      if (outcome.kind === "fatal") {
        if (
          outcome.error?.status === 401 && typeof this.#settings.token === "function" &&
          !retriedUnauthorized
        ) {
          retriedUnauthorized = true; // the token may have expired meanwhile: one fresh try
          this.#tokens.forget();
          continue;
        }
        this.#settleSwitches();
        return outcome.error;
      }
      if (outcome.opened) {
        attempt = 0;
        retriedUnauthorized = false;
      }
      const wasProbing = this.#chooser.probing;
      const fellBack = this.#chooser.weigh(transport, outcome);
      if (outcome.onPurpose) continue;
      // A failed try of SSE goes straight back to a working WebSocket: no visible interruption.
      if (!(fellBack && wasProbing)) this.#host.state("reconnecting");
      if (outcome.error) this.#host.error(outcome.error);
      if (fellBack) continue;
      const baseMs = this.#retryMs ?? this.#settings.minDelayMs;
      const { maxDelayMs: maxMs } = this.#settings;
      await wait(
        reconnectDelay({ attempt, baseMs, maxMs, retryAfterMs: outcome.retryAfterMs }),
        signal,
      );
      attempt++;
    }
    this.#settleSwitches();
    return undefined;
  }

  /** Settles the pending switches: a connection on the newest set opened, or the loop ended. */
  #settleSwitches() {
    const settled = this.#switches;
    this.#switches = [];
    for (const done of settled) done();
  }

  /**
   * What a transport needs for one attempt, resuming after the last event received.
   *
   * @param {"sse" | "websocket"} transport
   * @param {string | undefined} token
   * @returns {Attempt}
   */
  #attempt(transport, token) {
    const requested = this.#lastEventId;
    const settings = this.#settings;
    const hubUrl = this.#hubUrl;
    return {
      url: (kind) => subscriptionUrl(hubUrl, settings, kind, requested, token),
      token,
      lastEventId: requested,
      signal: this.#signal,
      fetch: this.#fetch,
      heartbeatMs: this.#settings.heartbeatMs,
      opened: (connection) => {
        this.#transport = transport;
        this.#host.state("open");
        if (settings !== this.#settings || hubUrl !== this.#hubUrl) {
          connection.endOnPurpose(); // switched while it was connecting
          return () => {};
        }
        this.#open = connection;
        this.#settleSwitches();
        const cancelTimers = this.#planReconnects(connection, transport);
        return () => {
          cancelTimers();
          if (this.#open === connection) this.#open = undefined;
        };
      },
      received: (id, type, data, topic) => this.#received(id, type, data, topic),
      retry: (ms) => this.#retryMs = ms,
      resumed: (resumedFrom) => {
        if (requested !== undefined && requested !== "earliest" && resumedFrom === "earliest") {
          this.#host.reset({ requested });
        }
      },
    };
  }

  /**
   * Timers that end a healthy connection on purpose: the token refresh (the new token is fetched
   * first), and the scheduled return from WebSocket to SSE.
   *
   * @param {Connection} connection
   * @param {"sse" | "websocket"} transport
   * @returns {() => void} cancels them
   */
  #planReconnects(connection, transport) {
    /** @type {ReturnType<typeof setTimeout>[]} */
    const timers = [];
    const refreshAt = this.#tokens.refreshAt;
    if (typeof this.#settings.token === "function" && refreshAt !== undefined) {
      timers.push(setTimeout(async () => {
        try {
          await this.#tokens.current(connection.signal, true);
        } catch (error) {
          this.#host.error(new SubscriptionError(`token refresh: ${messageOf(error)}`));
          return; // keep the connection; the hub ends it at expiry and the next attempt retries
        }
        connection.endOnPurpose();
      }, Math.max(MIN_REFRESH_DELAY_MS, refreshAt - Date.now())));
    }
    const sseTryInMs = this.#chooser.msUntilSseTry(transport);
    if (sseTryInMs !== undefined) {
      timers.push(setTimeout(() => {
        this.#chooser.trySseNext();
        connection.endOnPurpose();
      }, sseTryInMs));
    }
    return () => timers.forEach((timer) => clearTimeout(timer));
  }

  /**
   * @param {string} id
   * @param {string} type
   * @param {string} data
   * @param {string | undefined} topic
   */
  #received(id, type, data, topic) {
    if (this.#signal.aborted) return;
    if (id !== "") this.#lastEventId = id;
    /** @type {TidingsEvent} */
    const event = { id, type, data, json: () => JSON.parse(data) };
    if (topic !== undefined) event.topic = topic;
    this.#host.event(event);
  }
}
