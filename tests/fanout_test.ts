/**
 * Unit tests of the fan-out (`lib/hub/fanout.ts`): who gets an update, once, in order, with one
 * flush per subscriber per dispatch; private updates and filters; the byte bound of a queue; push
 * mode.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Fanout } from "../lib/hub/_fanout.ts";
import { Subscriber } from "../lib/hub/_subscriber.ts";
import type { StoredUpdate, UpdatePredicate } from "../lib/hub/update.ts";
import { SelectorSet } from "../lib/topics/topic_selector.ts";

function update(seq: number, topics: string[], extra: Partial<StoredUpdate> = {}): StoredUpdate {
  return { seq, id: `u${seq}`, topics, data: `d${seq}`, time: 0, ...extra };
}

function subscriber(
  selectors: string[],
  accepts: UpdatePredicate = () => true,
  maxBytes = 1 << 20,
) {
  const made = new Subscriber(new SelectorSet(selectors), accepts, maxBytes, 0);
  let flushes = 0;
  const flush = made.flush.bind(made);
  made.flush = () => {
    flushes++;
    flush();
  };
  return { made, flushes: () => flushes, ids: () => made.take().map((u) => u.id) };
}

Deno.test("each subscriber gets the updates its selectors match, once and in order, one flush per dispatch", () => {
  const fanout = new Fanout();
  const exact = subscriber(["news"]);
  const template = subscriber(["sport/{id}"]);
  const star = subscriber(["*"]);
  const both = subscriber(["news", "sport/{id}"]);
  for (const s of [exact, template, star, both]) fanout.add(s.made);
  fanout.dispatch([
    update(1, ["news"]),
    update(2, ["sport/1"]),
    update(3, ["weather"]),
    // Matches `both` through two topics: still once.
    update(4, ["news", "sport/2"]),
  ]);
  assert.deepEqual(exact.ids(), ["u1", "u4"]);
  assert.deepEqual(template.ids(), ["u2", "u4"]);
  assert.deepEqual(star.ids(), ["u1", "u2", "u3", "u4"]);
  assert.deepEqual(both.ids(), ["u1", "u2", "u4"]);
  for (const s of [exact, template, star, both]) assert.equal(s.flushes(), 1);
  assert.equal(fanout.size, 4);
});

Deno.test("a position offered twice, or older than the last, is not queued again", () => {
  const fanout = new Fanout();
  const s = subscriber(["*"]);
  fanout.add(s.made);
  fanout.dispatch([update(1, ["a"]), update(2, ["a"])]);
  fanout.dispatch([update(2, ["a"]), update(1, ["a"]), update(3, ["a"])]);
  assert.deepEqual(s.ids(), ["u1", "u2", "u3"]);
});

Deno.test("a private update reaches only subscribers whose predicate accepts it, exact or pattern", () => {
  const fanout = new Fanout();
  const allowed: UpdatePredicate = (u) => !u.private || u.topics.includes("users/1");
  const denied: UpdatePredicate = (u) => !u.private;
  const subscribers = [
    subscriber(["users/1"], allowed),
    subscriber(["users/1"], denied),
    subscriber(["users/{id}"], allowed),
    subscriber(["users/{id}"], denied),
  ];
  for (const s of subscribers) fanout.add(s.made);
  fanout.dispatch([update(1, ["users/1"], { private: true }), update(2, ["users/1"])]);
  assert.deepEqual(subscribers.map((s) => s.ids()), [["u1", "u2"], ["u2"], ["u1", "u2"], ["u2"]]);
  // A subscriber given nothing is not flushed.
  fanout.dispatch([update(3, ["users/1"], { private: true })]);
  assert.deepEqual(subscribers.map((s) => s.flushes()), [2, 1, 2, 1]);
});

Deno.test("a removed subscriber gets nothing more and its topic leaves the counts", () => {
  const fanout = new Fanout();
  const news = subscriber(["news"]);
  const pattern = subscriber(["{x}"]);
  fanout.add(news.made);
  fanout.add(pattern.made);
  assert.deepEqual(fanout.topicCounts(10), [["news", 1]]);
  fanout.remove(news.made);
  fanout.remove(pattern.made);
  fanout.dispatch([update(1, ["news"])]);
  assert.deepEqual([news.ids(), pattern.ids()], [[], []]);
  assert.deepEqual(fanout.topicCounts(10), []);
  assert.equal(fanout.size, 0);
});

Deno.test("a queue past its byte bound empties, remembers where, and ignores updates until taken over", () => {
  let overflows = 0;
  const s = new Subscriber(new SelectorSet(["*"]), () => true, 150, 0);
  s.onOverflow = () => overflows++;
  // Each update counts its data length plus 64 bytes: the third passes 150.
  s.offer(update(1, ["a"]));
  s.offer(update(2, ["a"]));
  assert.equal(s.queuedBytes, 2 * (2 + 64));
  s.offer(update(3, ["a"]));
  assert.deepEqual([s.overflowedAt, s.queuedBytes, overflows], [0, 0, 1]);
  assert.equal(s.offer(update(4, ["a"])), false);
  assert.equal(s.lastSeq, 4, "positions still advance, for the catch-up");
  assert.deepEqual(s.take(), []);
});

Deno.test("in push mode each dispatch hands the sink one batch and nothing overflows", () => {
  const fanout = new Fanout();
  const s = new Subscriber(new SelectorSet(["*"]), () => true, 100, 0);
  const batches: string[][] = [];
  s.sink = (updates) => batches.push(updates.map((u) => u.id));
  fanout.add(s);
  fanout.dispatch([update(1, ["a"]), update(2, ["b"]), update(3, ["c"])]);
  fanout.dispatch([update(4, ["a"])]);
  assert.deepEqual(batches, [["u1", "u2", "u3"], ["u4"]]);
  assert.equal(s.overflowedAt, undefined);
});
