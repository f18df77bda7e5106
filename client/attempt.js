// @ts-check
/**
 * The contract between the reconnection loop and a transport: what one connection attempt is
 * given ({@linkcode Attempt}) and how it ended ({@linkcode Outcome}). Types only.
 *
 * @module
 */

/**
 * What a transport is given for one connection attempt.
 *
 * @typedef {object} Attempt
 * @property {(kind: "sse" | "websocket") => string} url The URL to ask for (WebSocket: with the
 * resume point and the token).
 * @property {string | undefined} token The subscriber token, if any.
 * @property {string | undefined} lastEventId Where to resume: the last event received.
 * @property {AbortSignal} signal The subscription's: aborts when it closes.
 * @property {typeof fetch} fetch
 * @property {number} heartbeatMs The hub's heartbeat interval (0: none assumed).
 * @property {(connection: import("./abortable.js").Connection) => () => void} opened Call once
 * the connection is open; returns the function that cancels its planned reconnections.
 * @property {(id: string, type: string, data: string, topic: string | undefined) => void} received
 * Call for every event.
 * @property {(ms: number) => void} retry Call with the hub's `retry:`.
 * @property {(resumedFrom: string | null) => void} resumed Call with where the hub says it
 * resumed from.
 */

/**
 * How one connection attempt ended.
 *
 * @typedef {object} Outcome
 * @property {"retry" | "finished" | "fatal"} kind
 * @property {import("./errors.js").SubscriptionError} [error]
 * @property {boolean} [opened] The connection opened (backoff starts over).
 * @property {boolean} [receivedBytes] The event stream delivered bytes.
 * @property {boolean} [suspect] SSE failed as if a proxy broke streaming.
 * @property {boolean} [silent] SSE opened but no byte came within twice the heartbeat.
 * @property {boolean} [onPurpose] The client ended it (token refresh, return to SSE).
 * @property {number} [retryAfterMs] The hub's `Retry-After`.
 */

export {};
