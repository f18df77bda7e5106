// @ts-check
/**
 * The tidings client: a Mercure subscription that survives the real world. It streams over
 * `fetch` (so it can send `Authorization`), reconnects with exponential backoff and full jitter,
 * resumes with `Last-Event-ID` (no event lost or repeated), refreshes short-lived tokens before they
 * expire, stops for good when the hub says so (204, 4xx), and falls back to WebSocket when a proxy
 * breaks streaming, returning to SSE once it works again.
 *
 * Plain ES-module JavaScript with JSDoc types: browsers load it as it is (`/client.js`), Deno
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

import { SseParser } from "../lib/sse_parser.js";

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
 * Where a subscription is: `"connecting"` until the first connection opens, `"open"` while events
 * can flow, `"reconnecting"` after an attempt failed or a connection dropped, `"closed"` for good.
 *
 * @typedef {"connecting" | "open" | "reconnecting" | "closed"} SubscriptionState
 */

/**
 * One event from the hub.
 *
 * @typedef {object} TidingsEvent
 * @property {string} id The event id: the resume point.
 * @property {string} type The event type; `"message"` when the publisher gave none.
 * @property {string} data The payload, as text.
 * @property {string} [topic] The update's topic (WebSocket only: SSE does not carry it).
 * @property {<T = unknown>() => T} json Parses `data` as JSON.
 */

/**
 * Options of {@linkcode subscribe}.
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
 * @typedef {object} Outcome How one connection attempt ended.
 * @property {"retry" | "finished" | "fatal"} kind
 * @property {SubscriptionError} [error]
 * @property {boolean} [opened] The connection opened (backoff starts over).
 * @property {boolean} [receivedBytes] The event stream delivered bytes.
 * @property {boolean} [suspect] SSE failed as if a proxy broke streaming.
 * @property {boolean} [silent] SSE opened but no byte came within twice the heartbeat.
 * @property {boolean} [onPurpose] The client ended it (token refresh, return to SSE).
 * @property {number} [retryAfterMs] The hub's `Retry-After`.
 */

const MAX_RETRY_AFTER_MS = 5 * 60_000;
const MIN_REFRESH_DELAY_MS = 1_000;

/**
 * Why a subscription stopped for good, or why an attempt failed.
 *
 * @example
 * ```ts
 * import { SubscriptionError } from "./tidings_client.js";
 * const error = new SubscriptionError("the hub answered 401: invalid token", { status: 401 });
 * console.assert(error.status === 401);
 * ```
 */
export class SubscriptionError extends Error {
  /**
   * @param {string} message
   * @param {{ status?: number, reason?: string, cause?: unknown }} [details]
   * @example
   * ```ts
   * import { SubscriptionError } from "./tidings_client.js";
   * new SubscriptionError("network error", { cause: new TypeError("refused") });
   * ```
   */
  constructor(message, details = {}) {
    super(message, { cause: details.cause });
    this.name = "SubscriptionError";
    /** The HTTP status the hub answered, if any. */
    this.status = details.status;
    /** The hub's reason (response body or `X-Tidings-Refusal`), if any. */
    this.reason = details.reason;
  }
}

/**
 * The wait before a reconnection: "full jitter", uniformly random in
 * `[0, min(maxMs, baseMs · 2^attempt))` (`attempt` 0 is the first retry after a good connection).
 * A hub's `Retry-After` wins: that wait (at most 5 minutes) plus a random part of `baseMs`, so
 * clients told the same time do not all return at once.
 *
 * @param {{ attempt: number, baseMs: number, maxMs: number, retryAfterMs?: number,
 *   random?: () => number }} options
 * @returns {number} milliseconds
 * @example
 * ```ts
 * import { reconnectDelay } from "./tidings_client.js";
 * const delay = reconnectDelay({ attempt: 3, baseMs: 500, maxMs: 30_000, random: () => 0.5 });
 * console.assert(delay === 2000);
 * ```
 */
export function reconnectDelay({ attempt, baseMs, maxMs, retryAfterMs, random = Math.random }) {
  if (retryAfterMs !== undefined) {
    return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) + random() * Math.min(baseMs, maxMs);
  }
  return random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 40));
}

/**
 * When a token should be replaced: shortly before its `exp` (10% of its remaining life, at most
 * 30 s early). The payload is decoded, not verified. `undefined` for a token without `exp`.
 *
 * @param {string} token a JWT
 * @param {number} [now] the time it was obtained (ms since the epoch)
 * @returns {number | undefined} ms since the epoch
 * @example
 * ```ts
 * import { tokenRefreshTime } from "./tidings_client.js";
 * const payload = btoa(JSON.stringify({ exp: 1_000 })).replace(/=+$/, "");
 * console.assert(tokenRefreshTime(`e30.${payload}.sig`, 900_000) === 990_000);
 * ```
 */
export function tokenRefreshTime(token, now = Date.now()) {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
    const claims = JSON.parse(
      new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))),
    );
    if (typeof claims?.exp !== "number") return undefined;
    const expiresAt = claims.exp * 1000;
    return expiresAt - Math.min(30_000, Math.max(0, (expiresAt - now) * 0.1));
  } catch {
    return undefined;
  }
}

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

/**
 * A live subscription: iterate it (`for await`), or listen per event type with `on()`. It is an
 * `EventTarget` for its own notifications: `"statechange"`, `"reset"` (the hub lost the history
 * after `lastEventId`: re-fetch your state) and `"error"` (detail: a {@linkcode SubscriptionError},
 * for every failed attempt and for the final one).
 *
 * @example
 * ```ts
 * import { subscribe } from "./tidings_client.js";
 * const subscription = subscribe("http://localhost:8000/.well-known/mercure", { topics: ["chat"] });
 * subscription.onstatechange = () => console.log(subscription.state);
 * subscription.addEventListener("reset", () => console.log("reload the chat history"));
 * await subscription.close();
 * ```
 */
export class Subscription extends EventTarget {
  /** @type {((event: CustomEvent) => void) | null} Called on every state change. */
  onstatechange = null;
  /** @type {((event: CustomEvent) => void) | null} Called when the hub lost the history. */
  onreset = null;
  /** @type {((event: CustomEvent<SubscriptionError>) => void) | null} Called on every error. */
  onerror = null;

  #hubUrl;
  #options;
  /** @type {typeof fetch} */
  #fetch;
  #controller = new AbortController();
  /** @type {SubscriptionState} */
  #state = "connecting";
  /** @type {"sse" | "websocket"} */
  #transport;
  /** @type {string | undefined} */
  #lastEventId;
  /** @type {SubscriptionError | undefined} */
  #error;
  /** @type {number | undefined} The hub's `retry:`. */
  #retryMs;
  /** @type {{ value: string, refreshAt: number | undefined } | undefined} */
  #token;
  /** @type {Promise<string> | undefined} */
  #tokenRequest;
  /** @type {Map<string, Set<(event: TidingsEvent) => void>>} */
  #listeners = new Map();
  /** @type {Set<EventQueue>} */
  #queues = new Set();
  /** Auto mode: the transport in use, and the evidence for switching. */
  #mode = /** @type {"sse" | "websocket"} */ ("sse");
  #suspects = 0;
  #probing = false;
  #returnToSse = false;
  /** @type {number | undefined} */
  #fallbackSince;
  #webSocketOpened = false;
  /** How long to stay on WebSocket before the next SSE probe: doubles after each failed probe. */
  #probeAfterMs = 0;
  /** @type {Promise<void>} */
  #closed;
  #onExternalAbort = () => void this.close();

  /**
   * Use {@linkcode subscribe}.
   *
   * @param {string | URL} hubUrl
   * @param {SubscribeOptions} options
   * @example
   * ```ts
   * import { Subscription } from "./tidings_client.js";
   * const subscription = new Subscription("http://localhost:8000/feeds/clock", { topics: [] });
   * await subscription.close();
   * ```
   */
  constructor(hubUrl, options) {
    super();
    this.#hubUrl = new URL(hubUrl, pageHref());
    this.#options = validated(options);
    const chosen = options.fetch;
    this.#fetch = chosen
      ? (input, init) => chosen(input, init)
      : (input, init) => fetch(input, init);
    this.#transport = this.#options.transport === "websocket" ? "websocket" : "sse";
    this.#lastEventId = options.lastEventId;
    this.#probeAfterMs = this.#options.fallbackMs;
    const external = options.signal;
    if (external?.aborted) this.#controller.abort();
    else external?.addEventListener("abort", this.#onExternalAbort, { once: true });
    this.#closed = this.#run()
      .catch((error) => {
        this.#error ??= new SubscriptionError(`client failure: ${messageOf(error)}`, {
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
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/feeds/clock", { topics: [] });
   * console.assert(subscription.state === "connecting");
   * await subscription.close();
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
   * @example
   * ```ts
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/feeds/clock", { topics: [], lastEventId: "x" });
   * console.assert(subscription.lastEventId === "x");
   * await subscription.close();
   * ```
   */
  get lastEventId() {
    return this.#lastEventId;
  }

  /**
   * The transport of the current (or next) connection.
   *
   * @returns {"sse" | "websocket"}
   * @example
   * ```ts
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/feeds/clock", { topics: [] });
   * console.assert(subscription.transport === "sse");
   * await subscription.close();
   * ```
   */
  get transport() {
    return this.#transport;
  }

  /**
   * Why the subscription closed, when the hub refused it for good (401, 403, 404, …).
   *
   * @returns {SubscriptionError | undefined}
   * @example
   * ```ts
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/nowhere", {
   *   topics: ["x"],
   *   signal: AbortSignal.timeout(1000),
   * });
   * await subscription.closed;
   * console.log(subscription.error?.status); // 404 from a hub; undefined if none answered
   * ```
   */
  get error() {
    return this.#error;
  }

  /**
   * Resolves once the subscription is closed and every connection and timer is released.
   *
   * @returns {Promise<void>}
   * @example
   * ```ts
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/feeds/orders/o-1", {
   *   topics: [],
   *   signal: AbortSignal.timeout(1000),
   * });
   * await subscription.closed; // the order completed (204), a 404, or the signal aborted
   * ```
   */
  get closed() {
    return this.#closed;
  }

  /**
   * Calls `callback` for every event of `type` (`"message"` for events published without one).
   *
   * @param {string} type
   * @param {(event: TidingsEvent) => void} callback
   * @returns {() => void} removes the listener
   * @example
   * ```ts
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/feeds/stocks", { topics: [] });
   * const stop = subscription.on("price_update", (event) => console.log(event.json()));
   * stop();
   * await subscription.close();
   * ```
   */
  on(type, callback) {
    let listeners = this.#listeners.get(type);
    if (!listeners) this.#listeners.set(type, listeners = new Set());
    /** @param {TidingsEvent} event */
    const listener = (event) => callback(event);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }

  /**
   * Closes the subscription: the connection, every timer and every iteration end.
   *
   * @returns {Promise<void>} resolves when everything is released
   * @example
   * ```ts
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/feeds/clock", { topics: [] });
   * await subscription.close();
   * console.assert(subscription.state === "closed");
   * ```
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
   * @example
   * ```ts
   * import { subscribe } from "./tidings_client.js";
   * const subscription = subscribe("http://localhost:8000/feeds/clock", {
   *   topics: [],
   *   signal: AbortSignal.timeout(500),
   * });
   * for await (const event of subscription) console.log(event.data);
   * ```
   */
  [Symbol.asyncIterator]() {
    const queue = new EventQueue();
    if (this.#state === "closed") queue.finish(this.#error);
    else this.#queues.add(queue);
    const queues = this.#queues;
    return {
      next: () => queue.next(),
      return: () => {
        queues.delete(queue);
        queue.finish(undefined);
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  async #run() {
    const signal = this.#controller.signal;
    let attempt = 0;
    let retriedUnauthorized = false;
    while (!signal.aborted) {
      const transport = this.#options.transport === "auto" ? this.#mode : this.#options.transport;
      /** @type {Outcome} */
      let outcome;
      /** @type {string | undefined} */
      let token;
      try {
        token = await this.#currentToken(signal);
      } catch (error) {
        const message = `the token function failed: ${messageOf(error)}`;
        outcome = { kind: "retry", error: new SubscriptionError(message, { cause: error }) };
      }
      if (signal.aborted) break;
      outcome ??= transport === "sse"
        ? await this.#connectSse(token, signal)
        : await this.#connectWebSocket(token, signal);
      if (signal.aborted) break;
      if (outcome.kind === "finished") break;
      if (outcome.kind === "fatal") {
        if (
          outcome.error?.status === 401 && typeof this.#options.token === "function" &&
          !retriedUnauthorized
        ) {
          retriedUnauthorized = true; // the token may have expired meanwhile: one fresh try
          this.#token = undefined;
          continue;
        }
        this.#error = outcome.error;
        break;
      }
      if (outcome.opened) {
        attempt = 0;
        retriedUnauthorized = false;
      }
      const wasProbing = this.#probing;
      const fellBack = this.#weighTransport(transport, outcome);
      if (outcome.onPurpose) continue;
      // A failed try of SSE goes straight back to a working WebSocket: no visible interruption.
      if (!(fellBack && wasProbing)) this.#setState("reconnecting");
      if (outcome.error) this.#notify("error", outcome.error);
      if (fellBack) continue;
      const baseMs = this.#retryMs ?? this.#options.minDelayMs;
      const { maxDelayMs: maxMs } = this.#options;
      await wait(
        reconnectDelay({ attempt, baseMs, maxMs, retryAfterMs: outcome.retryAfterMs }),
        signal,
      );
      attempt++;
    }
  }

  /**
   * Auto mode: moves to WebSocket when SSE fails as if a proxy broke it, and back to SSE later.
   *
   * @param {"sse" | "websocket"} transport
   * @param {Outcome} outcome
   * @returns {boolean} whether it just fell back to WebSocket
   */
  #weighTransport(transport, outcome) {
    if (this.#options.transport !== "auto") return false;
    if (transport === "sse") {
      if (outcome.receivedBytes) {
        this.#suspects = 0;
        this.#probing = false;
        this.#probeAfterMs = this.#options.fallbackMs;
        return false;
      }
      if (!outcome.silent && !(outcome.suspect && (++this.#suspects >= 2 || this.#probing))) {
        return false;
      }
      if (this.#probing) {
        this.#probeAfterMs = Math.min(2 * this.#probeAfterMs, 32 * this.#options.fallbackMs);
      }
      this.#mode = "websocket";
      this.#fallbackSince = Date.now();
      this.#suspects = 0;
      this.#probing = false;
      this.#webSocketOpened = false;
      return true;
    }
    if (outcome.opened) this.#webSocketOpened = true;
    if (
      this.#returnToSse || !this.#webSocketOpened ||
      Date.now() - (this.#fallbackSince ?? 0) >= this.#probeAfterMs
    ) {
      // Back to SSE: on schedule (a probe; one more proxy-like failure returns here at once), or
      // because WebSocket fails too, so the trouble is not the transport.
      this.#probing = this.#webSocketOpened;
      this.#mode = "sse";
      this.#returnToSse = false;
    }
    return false;
  }

  /**
   * @param {AbortSignal} signal
   * @param {boolean} [force]
   * @returns {Promise<string | undefined>}
   */
  async #currentToken(signal, force = false) {
    const source = this.#options.token;
    if (typeof source !== "function") return source;
    const cached = this.#token;
    if (!force && cached && (cached.refreshAt === undefined || Date.now() < cached.refreshAt)) {
      return cached.value;
    }
    this.#tokenRequest ??= (async () => {
      try {
        const value = await source();
        if (typeof value !== "string" || value === "") {
          throw new TypeError("the token function must resolve to a non-empty string");
        }
        this.#token = { value, refreshAt: tokenRefreshTime(value) };
        return value;
      } finally {
        this.#tokenRequest = undefined;
      }
    })();
    return await abortable(this.#tokenRequest, signal);
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
    const refreshAt = this.#token?.refreshAt;
    if (typeof this.#options.token === "function" && refreshAt !== undefined) {
      timers.push(setTimeout(async () => {
        try {
          await this.#currentToken(connection.signal, true);
        } catch (error) {
          this.#notify("error", new SubscriptionError(`token refresh: ${messageOf(error)}`));
          return; // keep the connection; the hub ends it at expiry and the next attempt retries
        }
        connection.endOnPurpose();
      }, Math.max(MIN_REFRESH_DELAY_MS, refreshAt - Date.now())));
    }
    if (transport === "websocket" && this.#options.transport === "auto") {
      const due = (this.#fallbackSince ?? 0) + this.#probeAfterMs - Date.now();
      timers.push(setTimeout(() => {
        this.#returnToSse = true;
        connection.endOnPurpose();
      }, Math.max(0, due)));
    }
    return () => timers.forEach((timer) => clearTimeout(timer));
  }

  /**
   * @param {string | undefined} token
   * @param {AbortSignal} signal
   * @returns {Promise<Outcome>}
   */
  async #connectSse(token, signal) {
    const requested = this.#lastEventId;
    const connection = new Connection(signal);
    try {
      /** @type {Response} */
      let response;
      try {
        response = await this.#fetch(this.#url("sse"), {
          headers: sseHeaders(token, requested),
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
      this.#checkResumed(requested, response.headers.get("last-event-id"));
      this.#opened("sse");
      const cancelTimers = this.#planReconnects(connection, "sse");
      try {
        return await this.#readEventStream(response, connection);
      } finally {
        cancelTimers();
      }
    } finally {
      connection.release();
    }
  }

  /**
   * @param {Response} response
   * @param {Connection} connection
   * @returns {Promise<Outcome>}
   */
  async #readEventStream(response, connection) {
    const reader = /** @type {ReadableStream<Uint8Array>} */ (response.body).getReader();
    const parser = new SseParser({
      onEvent: (event) => this.#deliver(event.lastEventId, event.type, event.data, undefined),
      onRetry: (ms) => this.#retryMs = ms,
    });
    const silenceMs = 2 * this.#options.heartbeatMs;
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

  /**
   * @param {string | undefined} token
   * @param {AbortSignal} signal
   * @returns {Promise<Outcome>}
   */
  async #connectWebSocket(token, signal) {
    const requested = this.#lastEventId;
    /** @type {WebSocket} */
    let socket;
    try {
      socket = new WebSocket(this.#url("websocket", token));
    } catch (error) {
      return {
        kind: "fatal",
        error: new SubscriptionError(`cannot open a WebSocket: ${messageOf(error)}`),
      };
    }
    const connection = new Connection(signal);
    let opened = false;
    let cancelTimers = () => {};
    /** @type {Promise<CloseEvent>} */
    const closed = new Promise((resolve) => socket.onclose = resolve);
    socket.onerror = () => {}; // a close event follows
    socket.onopen = () => {
      opened = true;
      this.#opened("websocket");
      cancelTimers = this.#planReconnects(connection, "websocket");
    };
    socket.onmessage = (message) => {
      if (!connection.signal.aborted) this.#readFrame(message.data, requested);
    };
    try {
      let event = await abortable(closed, connection.signal);
      if (event === undefined) {
        socket.close(1000, "client reconnecting or closing");
        event = await withTimeout(closed, 2_000);
      }
      if (connection.onPurpose) return { kind: "retry", opened, onPurpose: true };
      if (!opened && !signal.aborted) {
        // The handshake hides the status: ask over plain HTTP whether the hub refuses for good.
        const refusal = await this.#diagnose(token, signal);
        if (refusal && refusal.kind !== "retry") return refusal;
      }
      const detail = event ? `${event.code}${event.reason ? ` ${event.reason}` : ""}` : "no close";
      const message = opened ? `WebSocket closed (${detail})` : `WebSocket failed (${detail})`;
      return { kind: "retry", opened, error: new SubscriptionError(message) };
    } finally {
      cancelTimers();
      connection.release();
      socket.onopen = socket.onmessage = null;
    }
  }

  /**
   * @param {string | undefined} token
   * @param {AbortSignal} signal
   * @returns {Promise<Outcome | undefined>}
   */
  async #diagnose(token, signal) {
    const connection = new Connection(signal);
    const timer = setTimeout(() => connection.abort(), 5_000);
    try {
      const response = await this.#fetch(this.#url("sse"), {
        headers: sseHeaders(token, this.#lastEventId),
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
   * @param {unknown} text
   * @param {string | undefined} requested
   */
  #readFrame(text, requested) {
    if (typeof text !== "string") return;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame !== "object" || frame === null) return;
    if (frame.type === "tidings:resumed" && !("id" in frame)) {
      this.#checkResumed(requested, String(frame.lastEventID));
      return;
    }
    if (typeof frame.id !== "string" || typeof frame.data !== "string") return;
    const type = typeof frame.type === "string" && frame.type !== "" ? frame.type : "message";
    this.#deliver(
      frame.id,
      type,
      frame.data,
      typeof frame.topic === "string" ? frame.topic : undefined,
    );
  }

  /**
   * @param {string | undefined} requested
   * @param {string | null} resumedFrom
   */
  #checkResumed(requested, resumedFrom) {
    if (requested !== undefined && requested !== "earliest" && resumedFrom === "earliest") {
      this.#notify("reset", { requested });
    }
  }

  /** @param {"sse" | "websocket"} transport */
  #opened(transport) {
    this.#transport = transport;
    this.#setState("open");
  }

  /**
   * @param {string} id
   * @param {string} type
   * @param {string} data
   * @param {string | undefined} topic
   */
  #deliver(id, type, data, topic) {
    if (this.#controller.signal.aborted) return;
    if (id !== "") this.#lastEventId = id;
    /** @type {TidingsEvent} */
    const event = { id, type, data, json: () => JSON.parse(data) };
    if (topic !== undefined) event.topic = topic;
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        listener(event);
      } catch (error) {
        reportLater(error);
      }
    }
    for (const queue of this.#queues) queue.push(event);
  }

  /**
   * @param {"sse" | "websocket"} kind
   * @param {string} [token]
   * @returns {string}
   */
  #url(kind, token) {
    const url = new URL(this.#hubUrl);
    const { topics, throttle, filter } = this.#options;
    for (const topic of topics) url.searchParams.append("topic", topic);
    if (throttle !== undefined) url.searchParams.set("throttle", String(throttle));
    for (const condition of filter) url.searchParams.append("filter", condition);
    if (kind === "websocket") {
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      if (this.#lastEventId !== undefined) url.searchParams.set("lastEventID", this.#lastEventId);
      if (token) url.searchParams.set("authorization", token);
    }
    return url.href;
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
    this.#options.signal?.removeEventListener("abort", this.#onExternalAbort);
    if (this.#error) this.#notify("error", this.#error);
    this.#setState("closed");
    for (const queue of this.#queues) queue.finish(this.#error);
    this.#queues.clear();
  }
}

/** Events waiting for one `for await` loop. */
class EventQueue {
  /** @type {TidingsEvent[]} */
  #items = [];
  #done = false;
  /** @type {SubscriptionError | undefined} */
  #error;
  /** @type {(() => void) | undefined} */
  #wake;

  /** @param {TidingsEvent} event */
  push(event) {
    this.#items.push(event);
    this.#wake?.();
  }

  /** @param {SubscriptionError | undefined} error */
  finish(error) {
    this.#done = true;
    this.#error = error;
    this.#wake?.();
  }

  /** @returns {Promise<IteratorResult<TidingsEvent, undefined>>} */
  async next() {
    while (true) {
      const event = this.#items.shift();
      if (event) return { done: false, value: event };
      if (this.#done) {
        const error = this.#error;
        this.#error = undefined;
        if (error) throw error;
        return { done: true, value: undefined };
      }
      await new Promise((resolve) => this.#wake = () => resolve(undefined));
      this.#wake = undefined;
    }
  }
}

/** One connection's abort signal, tied to the subscription's. */
class Connection {
  #controller = new AbortController();
  #parent;
  #onParentAbort = () => this.#controller.abort();
  onPurpose = false;

  /** @param {AbortSignal} parent */
  constructor(parent) {
    this.#parent = parent;
    if (parent.aborted) this.#controller.abort();
    else parent.addEventListener("abort", this.#onParentAbort, { once: true });
  }

  get signal() {
    return this.#controller.signal;
  }

  abort() {
    this.#controller.abort();
  }

  endOnPurpose() {
    this.onPurpose = true;
    this.#controller.abort();
  }

  release() {
    this.#parent.removeEventListener("abort", this.#onParentAbort);
  }
}

/**
 * @param {SubscribeOptions} options
 */
function validated(options) {
  const topics = options?.topics;
  if (!Array.isArray(topics) || topics.some((topic) => typeof topic !== "string")) {
    throw new TypeError("subscribe: topics must be an array of strings");
  }
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
    topics: [...topics],
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
 * What a response that is not an open event stream means; `undefined` when it is one.
 *
 * @param {Response} response
 * @returns {Promise<Outcome | undefined>}
 */
async function refusalOf(response) {
  const { status } = response;
  if (status === 204) {
    await response.body?.cancel().catch(() => {});
    return { kind: "finished" };
  }
  if (!response.ok) {
    let reason = response.headers.get("x-tidings-refusal") ?? "";
    try {
      reason = (await response.text()).trim().slice(0, 300) || reason;
    } catch {
      // keep the header's reason
    }
    const message = `the hub answered ${status}${reason ? `: ${reason}` : ""}`;
    const error = new SubscriptionError(message, { status, reason });
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return { kind: "fatal", error };
    }
    const retryAfterMs = status === 503 || status === 429
      ? parseRetryAfter(response.headers.get("retry-after"))
      : undefined;
    return { kind: "retry", error, retryAfterMs };
  }
  const type = response.headers.get("content-type") ?? "";
  if (!/^\s*text\/event-stream\s*(;|$)/i.test(type) || !response.body) {
    await response.body?.cancel().catch(() => {});
    const message = `expected text/event-stream, got ${
      type || "no content type"
    }: a proxy may be in the way`;
    return { kind: "retry", suspect: true, error: new SubscriptionError(message, { status }) };
  }
  return undefined;
}

/**
 * @param {string | null} value
 * @returns {number | undefined}
 */
function parseRetryAfter(value) {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * Resolves after `ms`, or at once when `signal` aborts.
 *
 * @param {number} ms
 * @param {AbortSignal} signal
 * @returns {Promise<void>}
 */
function wait(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The promise's value, or `undefined` once `signal` aborts.
 *
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal} signal
 * @returns {Promise<T | undefined>}
 */
function abortable(promise, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(undefined);
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The promise's value, or `undefined` after `ms`.
 *
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T | undefined>}
 */
function withTimeout(promise, ms) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((resolve) => timer = setTimeout(() => resolve(undefined), ms));
  return /** @type {Promise<T | undefined>} */ (Promise.race([promise, timeout]))
    .finally(() => clearTimeout(timer));
}

/** @returns {string | undefined} the page's address in a browser */
function pageHref() {
  try {
    return globalThis.location?.href;
  } catch {
    return undefined; // Deno without --location
  }
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/** A listener's exception must not break delivery to the others: report it on its own. */
/** @param {unknown} error */
function reportLater(error) {
  if (typeof globalThis.reportError === "function") globalThis.reportError(error);
  else {setTimeout(() => {
      throw error;
    });}
}
