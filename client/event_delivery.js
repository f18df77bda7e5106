// @ts-check
/**
 * Hands a subscription's events to its listeners (per event type) and to every `for await` loop
 * over it.
 *
 * @module
 */

import { reportLater } from "./errors.js";

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

/** @typedef {import("./errors.js").SubscriptionError} SubscriptionError */

/**
 * The listeners and the iterations of one subscription.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventDelivery } from "./event_delivery.js";
 * const delivery = new EventDelivery();
 * const seen: string[] = [];
 * delivery.on("message", (event) => seen.push(event.data));
 * delivery.deliver({ id: "1", type: "message", data: "hi", json: () => JSON.parse("hi") });
 * delivery.deliver({ id: "2", type: "price", data: "{}", json: () => JSON.parse("{}") }); // not a "message"
 * assert.deepEqual(seen, ["hi"]);
 * ```
 */
export class EventDelivery {
  /** @type {Map<string, Set<(event: TidingsEvent) => void>>} */
  #listeners = new Map();
  /** @type {Set<EventQueue>} */
  #queues = new Set();
  #finished = false;
  /** @type {SubscriptionError | undefined} */
  #error;

  /**
   * Calls `callback` for every event of `type`.
   *
   * @param {string} type
   * @param {(event: TidingsEvent) => void} callback
   * @returns {() => void} removes the listener
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EventDelivery } from "./event_delivery.js";
   * const delivery = new EventDelivery();
   * const seen: string[] = [];
   * const stop = delivery.on("price", (event) => seen.push(event.id));
   * delivery.deliver({ id: "1", type: "price", data: "{}", json: () => JSON.parse("{}") });
   * stop();
   * delivery.deliver({ id: "2", type: "price", data: "{}", json: () => JSON.parse("{}") });
   * assert.deepEqual(seen, ["1"]);
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
   * Hands an event to the listeners of its type (an exception in one is reported, and the others
   * still get the event) and to every iteration.
   *
   * @param {TidingsEvent} event
   */
  deliver(event) {
    for (const listener of this.#listeners.get(event.type) ?? []) {
      try {
        listener(event);
      } catch (error) {
        reportLater(error);
      }
    }
    for (const queue of this.#queues) queue.push(event);
  }

  /**
   * A new iteration over the events delivered from now on. Leaving its loop ends only it; after
   * {@linkcode EventDelivery.finish} it ends, throwing the error it was given, if any.
   *
   * @returns {AsyncIterableIterator<TidingsEvent>}
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EventDelivery } from "./event_delivery.js";
   * const delivery = new EventDelivery();
   * const events = delivery.iterate();
   * delivery.deliver({ id: "1", type: "message", data: "hi", json: () => JSON.parse("hi") });
   * delivery.finish(undefined);
   * assert.equal((await events.next()).value?.id, "1");
   * assert.equal((await events.next()).done, true);
   * ```
   */
  iterate() {
    const queue = new EventQueue();
    if (this.#finished) queue.finish(this.#error);
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

  /**
   * Ends every iteration, present and future: after their queued events they end, throwing
   * `error` if given.
   *
   * @param {SubscriptionError | undefined} error
   */
  finish(error) {
    this.#finished = true;
    this.#error = error;
    for (const queue of this.#queues) queue.finish(error);
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
