/**
 * A subscriber as the fan-out sees it: its selectors, the rule for what it may receive, and its
 * queue of matched updates, bounded in bytes. The queue keeps references to the shared updates
 * (never copies), so per-connection state stays a few fields and a short array. When the queue
 * overflows (the subscriber fell behind while still reading), it records where, drops the queue,
 * and the subscription catches up from the log.
 *
 * @module
 */

import type { StoredUpdate, UpdatePredicate } from "./update.ts";
import { Notifier } from "../util/abortable.ts";
import type { SelectorSet } from "../topics/mod.ts";

function noop(): void {}

/**
 * One subscriber's queue of matched updates, bounded in bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Subscriber } from "./_subscriber.ts";
 * import { SelectorSet } from "../topics/mod.ts";
 * const subscriber = new Subscriber(new SelectorSet(["news"]), () => true, 1024, 0);
 * subscriber.offer({ seq: 1, id: "a", topics: ["news"], data: "x", time: 0 });
 * assert.deepEqual(subscriber.take().map((update) => update.id), ["a"]);
 * assert.deepEqual(subscriber.take(), []);
 * ```
 */
export class Subscriber {
  readonly selectors: SelectorSet;
  readonly accepts: UpdatePredicate;
  readonly notifier: Notifier = new Notifier();
  /** The highest position offered so far; older positions are ignored (no duplicates). */
  lastSeq: number;
  /** Set when the queue passed its byte bound; the subscription then catches up from KV. */
  overflowedAt: number | undefined;
  /** Called when the queue passes its byte bound. */
  onOverflow: () => void = noop;
  /**
   * Live push mode: when set, each dispatch hands this subscriber's matched updates to the sink
   * at once, as one batch, instead of queueing them for a generator to take. The sink must not
   * keep the array it is given.
   */
  sink: ((updates: StoredUpdate[]) => void) | undefined;
  /** Set by the fan-out while a dispatch has queued something for this subscriber. */
  touched = false;
  #queue: StoredUpdate[] = [];
  #queuedBytes = 0;
  #maxBytes: number;

  constructor(
    selectors: SelectorSet,
    accepts: UpdatePredicate,
    maxBytes: number,
    afterSeq: number,
  ) {
    this.selectors = selectors;
    this.accepts = accepts;
    this.#maxBytes = maxBytes;
    this.lastSeq = afterSeq;
  }

  /**
   * Queues a matching update unless it was already seen or is not for this subscriber.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Subscriber } from "./_subscriber.ts";
   * import { SelectorSet } from "../topics/mod.ts";
   * const subscriber = new Subscriber(new SelectorSet(["*"]), () => true, 4096, 0);
   * const update = { seq: 1, id: "a", topics: ["x"], data: "", time: 0 };
   * subscriber.offer(update);
   * subscriber.offer(update); // the same position again: ignored
   * assert.deepEqual(subscriber.take(), [update]);
   * ```
   */
  offer(update: StoredUpdate): boolean {
    if (update.seq <= this.lastSeq) return false;
    this.lastSeq = update.seq;
    if (this.overflowedAt !== undefined || !this.accepts(update)) return false;
    this.#queue.push(update);
    this.#queuedBytes += update.data.length + 64;
    if (this.#queuedBytes > this.#maxBytes && !this.sink) {
      this.overflowedAt = this.#queue[0].seq - 1;
      this.#queue = [];
      this.#queuedBytes = 0;
      this.onOverflow();
    }
    return true;
  }

  /**
   * Ends a dispatch for this subscriber: pushes the batch to the sink, or wakes the generator.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Subscriber } from "./_subscriber.ts";
   * import { SelectorSet } from "../topics/mod.ts";
   * const subscriber = new Subscriber(new SelectorSet(["*"]), () => true, 4096, 0);
   * const pushed: string[] = [];
   * subscriber.sink = (updates) => pushed.push(...updates.map((update) => update.id));
   * subscriber.offer({ seq: 1, id: "a", topics: ["x"], data: "", time: 0 });
   * subscriber.flush();
   * assert.deepEqual(pushed, ["a"]);
   * ```
   */
  flush(): void {
    if (this.sink) {
      if (this.#queue.length === 0) return;
      // The sink reads the batch during the call and keeps no reference: reuse the array.
      this.sink(this.#queue);
      this.#queue.length = 0;
      this.#queuedBytes = 0;
    } else {
      this.notifier.notify();
    }
  }

  /**
   * Takes every queued update, oldest first.
   */
  take(): StoredUpdate[] {
    const taken = this.#queue;
    this.#queue = [];
    this.#queuedBytes = 0;
    return taken;
  }

  /** Bytes waiting in the queue. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }
}
