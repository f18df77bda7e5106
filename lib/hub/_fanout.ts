/**
 * Fan-out: hands each update the broker delivers to the subscribers whose selectors match it.
 *
 * Subscribers with only exact topics are found through a map from topic to subscribers; those with
 * `*` or URI templates are tested one by one (for a private update, only those allowed it), each
 * template in time linear in the topic (see `../topics/_uri_template_match.ts`). A subscriber keeps references to the shared updates
 * (never copies), so per-connection state stays a few fields and a short array.
 *
 * @module
 */

import { type StoredUpdate, type UpdatePredicate } from "./update.ts";
import { Notifier } from "../util/abortable.ts";
import type { SelectorSet } from "../topics/mod.ts";

function noop(): void {}

/**
 * One subscriber's queue of matched updates, bounded in bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Subscriber } from "./_fanout.ts";
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
   * import { Subscriber } from "./_fanout.ts";
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
   * import { Subscriber } from "./_fanout.ts";
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

/**
 * The index of subscribers by topic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fanout, Subscriber } from "./_fanout.ts";
 * import { SelectorSet } from "../topics/mod.ts";
 * const fanout = new Fanout();
 * const news = new Subscriber(new SelectorSet(["news"]), () => true, 4096, 0);
 * const sport = new Subscriber(new SelectorSet(["sport/{id}"]), () => true, 4096, 0);
 * fanout.add(news);
 * fanout.add(sport);
 * fanout.dispatch([{ seq: 1, id: "a", topics: ["news"], data: "x", time: 0 }]);
 * assert.deepEqual([news.take().length, sport.take().length], [1, 0]);
 * assert.deepEqual(fanout.topicCounts(10), [["news", 1]]);
 * ```
 */
export class Fanout {
  #byTopic = new Map<string, Set<Subscriber>>();
  #patterned = new Set<Subscriber>();
  #size = 0;

  /** How many subscribers are registered. */
  get size(): number {
    return this.#size;
  }

  /**
   * Registers a subscriber.
   */
  add(subscriber: Subscriber): void {
    this.#size++;
    for (const topic of subscriber.selectors.exactTopics) {
      let set = this.#byTopic.get(topic);
      if (!set) this.#byTopic.set(topic, set = new Set());
      set.add(subscriber);
    }
    if (subscriber.selectors.patterns.length > 0) this.#patterned.add(subscriber);
  }

  /**
   * Removes a subscriber.
   */
  remove(subscriber: Subscriber): void {
    this.#size--;
    for (const topic of subscriber.selectors.exactTopics) {
      const set = this.#byTopic.get(topic);
      set?.delete(subscriber);
      if (set?.size === 0) this.#byTopic.delete(topic);
    }
    this.#patterned.delete(subscriber);
  }

  /**
   * Offers each update, in order, to every subscriber that selects one of its topics.
   */
  dispatch(updates: StoredUpdate[]): void {
    const touched: Subscriber[] = [];
    const offer = (subscriber: Subscriber, update: StoredUpdate) => {
      if (subscriber.offer(update) && !subscriber.touched) {
        subscriber.touched = true;
        touched.push(subscriber);
      }
    };
    for (const update of updates) {
      for (const topic of update.topics) {
        const set = this.#byTopic.get(topic);
        if (set) { for (const subscriber of set) offer(subscriber, update); }
      }
      for (const subscriber of this.#patterned) {
        // A private update goes only to subscribers allowed it: asking that first spares every
        // anonymous subscriber from matching its templates against each subscription event.
        if (update.private && !subscriber.accepts(update)) continue;
        if (update.topics.some((topic) => subscriber.selectors.matches(topic))) {
          offer(subscriber, update);
        }
      }
    }
    // One write per subscriber per dispatch: everything due to it now goes out together.
    for (const subscriber of touched) {
      subscriber.touched = false;
      subscriber.flush();
    }
  }

  /**
   * Counts subscribers per exact topic, for metrics (largest first, at most `limit`).
   */
  topicCounts(limit: number): Array<[string, number]> {
    return [...this.#byTopic].map(([topic, set]): [string, number] => [topic, set.size])
      .sort((a, b) => b[1] - a[1]).slice(0, limit);
  }
}
