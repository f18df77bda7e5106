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

import type { StoredUpdate } from "./update.ts";
import type { Subscriber } from "./_subscriber.ts";

/**
 * The index of subscribers by topic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Fanout } from "./_fanout.ts";
 * import { Subscriber } from "./_subscriber.ts";
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
