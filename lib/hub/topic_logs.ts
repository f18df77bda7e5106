/**
 * Which topics keep a log of their own. Every update goes to the global log; an update's topics
 * each get a copy in their own log too (the store's per-topic history, read to resume an
 * exact-topic subscriber and trimmed to `TIDINGS_HISTORY_SIZE` per topic), except subscription
 * topics: `/.well-known/mercure/subscriptions/{topic}/{subscriber}` is new for every subscriber
 * and gets two updates in its life. Giving each its own log doubled the store's writes per
 * connection, and once retention emptied such a log it left a trim mark behind for good — one
 * per subscription ever made, written by anonymous clients. Their updates are read from the
 * global log instead, as any template selector's are.
 *
 * @module
 */

/**
 * How often a store sweeps for the trim marks that versions before this rule left for
 * subscription topics, ms (a sweep deletes a bounded number; nothing else reads them).
 */
export const OLD_MARK_SWEEP_EVERY_MS = 60_000;

/** The prefix of every subscription topic. */
export const SUBSCRIPTION_TOPIC_PREFIX = "/.well-known/mercure/subscriptions/";

/**
 * Whether updates of `topic` are also stored in a log of the topic's own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keepsTopicLog } from "./topic_logs.ts";
 * assert.equal(keepsTopicLog("https://example.com/books/1"), true);
 * assert.equal(keepsTopicLog("/.well-known/mercure/subscriptions/news/urn%3Auuid%3A1"), false);
 * ```
 */
export function keepsTopicLog(topic: string): boolean {
  return !topic.startsWith(SUBSCRIPTION_TOPIC_PREFIX);
}
