// @ts-check
/**
 * The `"auto"` transport policy: SSE first; WebSocket once SSE fails as if a proxy broke
 * streaming (two proxy-like failures, or one stream silent from the start); back to SSE on a
 * schedule that doubles after each failed try, or at once when WebSocket fails too.
 *
 * @module
 */

/** @typedef {import("./attempt.js").Outcome} Outcome */

/**
 * Chooses the transport of each connection attempt from how the previous ones ended.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TransportChooser } from "./transport_choice.js";
 * const chooser = new TransportChooser("auto", 60_000);
 * assert.equal(chooser.next, "sse");
 * chooser.weigh("sse", { kind: "retry", suspect: true });
 * assert.equal(chooser.weigh("sse", { kind: "retry", suspect: true }), true);
 * assert.equal(chooser.next, "websocket");
 * ```
 */
export class TransportChooser {
  #preference;
  #fallbackMs;
  /** The transport in use in auto mode. */
  #mode = /** @type {"sse" | "websocket"} */ ("sse");
  #suspects = 0;
  #probing = false;
  #returnToSse = false;
  /** @type {number | undefined} */
  #fallbackSince;
  #webSocketOpened = false;
  /** How long to stay on WebSocket before the next SSE probe: doubles after each failed probe. */
  #probeAfterMs;

  /**
   * @param {"auto" | "sse" | "websocket"} preference `"sse"` and `"websocket"` never switch
   * @param {number} fallbackMs how long to stay on WebSocket before the first try of SSE
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TransportChooser } from "./transport_choice.js";
   * assert.equal(new TransportChooser("websocket", 60_000).next, "websocket");
   * ```
   */
  constructor(preference, fallbackMs) {
    this.#preference = preference;
    this.#fallbackMs = fallbackMs;
    this.#probeAfterMs = fallbackMs;
  }

  /**
   * The transport of the next attempt.
   *
   * @returns {"sse" | "websocket"}
   */
  get next() {
    return this.#preference === "auto" ? this.#mode : this.#preference;
  }

  /**
   * Whether the next SSE attempt is a try from a working WebSocket (its failure should not show).
   *
   * @returns {boolean}
   */
  get probing() {
    return this.#probing;
  }

  /**
   * Weighs how an attempt ended; in auto mode it may switch the transport.
   *
   * @param {"sse" | "websocket"} transport the attempt's transport
   * @param {Outcome} outcome
   * @returns {boolean} whether it just fell back to WebSocket (the next attempt need not wait)
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TransportChooser } from "./transport_choice.js";
   * const chooser = new TransportChooser("auto", 60_000);
   * assert.equal(chooser.weigh("sse", { kind: "retry", opened: true, silent: true }), true);
   * ```
   */
  weigh(transport, outcome) {
    if (this.#preference !== "auto") return false;
    if (transport === "sse") {
      if (outcome.receivedBytes) {
        this.#suspects = 0;
        this.#probing = false;
        this.#probeAfterMs = this.#fallbackMs;
        return false;
      }
      if (!outcome.silent && !(outcome.suspect && (++this.#suspects >= 2 || this.#probing))) {
        return false;
      }
      if (this.#probing) {
        this.#probeAfterMs = Math.min(2 * this.#probeAfterMs, 32 * this.#fallbackMs);
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
   * For an open connection: in how many milliseconds it should end to try SSE again (auto mode on
   * WebSocket), else `undefined`.
   *
   * @param {"sse" | "websocket"} transport the open connection's transport
   * @returns {number | undefined}
   */
  msUntilSseTry(transport) {
    if (transport !== "websocket" || this.#preference !== "auto") return undefined;
    return Math.max(0, (this.#fallbackSince ?? 0) + this.#probeAfterMs - Date.now());
  }

  /**
   * Asks for SSE once the current WebSocket connection ends: the scheduled try is due.
   */
  trySseNext() {
    this.#returnToSse = true;
  }
}
