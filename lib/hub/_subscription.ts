/**
 * The subscription generator: replay from the KV log, then live updates from the broker, as SSE
 * bytes, with no gap, no duplicate and no reordering.
 *
 * The subscriber is registered with the fan-out at the broker's current position P before any
 * history is read; history is read from KV up to P, live updates are those after P. A subscriber
 * whose queue overflows (it fell behind) drops its queue and catches up from KV the same way.
 *
 * @module
 */

import { keepsTopicLog } from "./topic_logs.ts";
import type { Broker } from "./_broker.ts";
import type { EventLog } from "./_event_log.ts";
import type { Fanout } from "./_fanout.ts";
import { Subscriber } from "./_subscriber.ts";
import type { SelectorSet } from "../topics/mod.ts";
import { concatBytes } from "../util/bytes.ts";
import { type StoredUpdate, updateBytes, type UpdatePredicate } from "./update.ts";
import { encodePrioritisedBatch } from "./_priority.ts";
import { sleep } from "../util/abortable.ts";

/** What a subscription needs from the hub. */
export interface SubscriptionSource {
  log: EventLog;
  broker: Broker;
  fanout: Fanout;
}

/** How one subscription behaves. */
export interface SubscriptionOptions {
  selectors: SelectorSet;
  /** Replay what follows this position; `undefined` means live updates only. */
  afterSeq?: number;
  /** Private-update authorisation, data filters and the like. */
  accepts: UpdatePredicate;
  /** Ends the subscription (client gone, shutdown, token expiry). */
  signal: AbortSignal;
  /** Bound of the live queue in bytes before the subscriber falls back to KV. */
  maxQueuedBytes?: number;
  /** Deliver at most one update per topic per interval: the latest. */
  throttleMs?: number;
  /** Called after each write with the number of updates it carried (metrics). */
  onSent?: (count: number) => void;
  /** Ends the stream after sending an update for which this returns true. */
  isFinal?: (update: StoredUpdate) => boolean;
  /**
   * Called when the live queue overflows while the consumer has not taken the previous batch:
   * the client stopped reading. The caller should drop the connection (the client resumes from
   * KV when it comes back). Without it, the subscription just catches up from KV.
   */
  onStalled?: () => void;
  /**
   * Once history is sent and nothing is queued, hand the registered subscriber over to the
   * caller (who switches it to push mode) and end the generator without unregistering it.
   */
  handOff?: (subscriber: Subscriber) => void;
}

/**
 * Concatenates the SSE bytes of updates into one chunk: one write per batch (prioritised when any
 * update carries a priority, see `priority.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBatch } from "./_subscription.ts";
 * const chunk = encodeBatch([{ seq: 1, id: "a", topics: ["t"], data: "x", time: 0 }]);
 * assert.equal(new TextDecoder().decode(chunk), "id: a\ndata: x\n\n");
 * ```
 */
export function encodeBatch(updates: StoredUpdate[]): Uint8Array {
  if (updates.length === 1) return updateBytes(updates[0]);
  // A dispatch hands the same updates to every subscriber of a topic: encode the batch once.
  if (sameUpdates(updates, lastBatch)) return lastBatchBytes;
  const bytes = updates.some((update) => update.priority)
    ? encodePrioritisedBatch(updates)
    : concatBytes(updates.map(updateBytes));
  lastBatch = updates.slice();
  lastBatchBytes = bytes;
  return bytes;
}

let lastBatch: StoredUpdate[] = [];
let lastBatchBytes: Uint8Array = new Uint8Array(0);

function sameUpdates(a: StoredUpdate[], b: StoredUpdate[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether history for these selectors is read from per-topic logs (few exact topics, each keeping
 * a log of its own) rather than the global log.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usesTopicLogs } from "./_subscription.ts";
 * import { SelectorSet } from "../topics/mod.ts";
 * assert.equal(usesTopicLogs(new SelectorSet(["a", "b"])), true);
 * assert.equal(usesTopicLogs(new SelectorSet(["*"])), false);
 * assert.equal(usesTopicLogs(new SelectorSet(["/.well-known/mercure/subscriptions/a/b"])), false);
 * ```
 */
export function usesTopicLogs(selectors: SelectorSet): boolean {
  if (selectors.patterns.length > 0 || selectors.exactTopics.size > 8) return false;
  for (const topic of selectors.exactTopics) if (!keepsTopicLog(topic)) return false;
  return true;
}

/**
 * Reads history for a selector set from KV after `afterSeq`, up to `untilSeq`, in pages.
 * Exact-topic selections read only their topics' logs; others scan the global log.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { EventLog } from "./_event_log.ts";
 * import { readHistory } from "./_subscription.ts";
 * import { SelectorSet } from "../topics/mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const log = await EventLog.open(new KvTransport(kv));
 * await log.append({ topics: ["a"], data: "1" });
 * const page = await readHistory(log, new SelectorSet(["a"]), 0, 1);
 * assert.equal(page.updates.length, 1);
 * assert.equal(page.reachedSeq, 1);
 * kv.close();
 * ```
 */
export async function readHistory(
  log: EventLog,
  selectors: SelectorSet,
  afterSeq: number,
  untilSeq: number,
  limit = 1000,
): Promise<{ updates: StoredUpdate[]; reachedSeq: number }> {
  if (!usesTopicLogs(selectors)) {
    const page = await log.read(afterSeq, untilSeq, limit);
    const reachedSeq = page.length === limit ? page[page.length - 1].seq : untilSeq;
    return { updates: page.filter((u) => u.topics.some((t) => selectors.matches(t))), reachedSeq };
  }
  const pages = await Promise.all(
    [...selectors.exactTopics].map((topic) => log.readTopic(topic, afterSeq, untilSeq, limit)),
  );
  // Each topic page is complete up to its last seq when short; stop at the smallest full page's end.
  let reachedSeq = untilSeq;
  for (const page of pages) {
    if (page.length === limit) reachedSeq = Math.min(reachedSeq, page[page.length - 1].seq);
  }
  const bySeq = new Map<number, StoredUpdate>();
  for (const page of pages) {
    for (const update of page) if (update.seq <= reachedSeq) bySeq.set(update.seq, update);
  }
  return { updates: [...bySeq.values()].sort((a, b) => a.seq - b.seq), reachedSeq };
}

function ignoreOverflow(): void {}

/**
 * Streams one subscription as batches of updates, in log order, until its signal aborts or a final
 * update is sent. Each batch is what is due to the connection now: send it as one write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { EventLog } from "./_event_log.ts";
 * import { Broker } from "./_broker.ts";
 * import { Fanout } from "./_fanout.ts";
 * import { subscribeUpdates } from "./_subscription.ts";
 * import { SelectorSet } from "../topics/mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const log = await EventLog.open(new KvTransport(kv));
 * const broker = await Broker.start(log);
 * const fanout = new Fanout();
 * broker.listen((updates) => fanout.dispatch(updates));
 * await log.append({ topics: ["t"], data: "old" });
 * const controller = new AbortController();
 * const batches = subscribeUpdates({ log, broker, fanout }, {
 *   selectors: new SelectorSet(["t"]), afterSeq: 0, accepts: () => true, signal: controller.signal,
 * });
 * const first = await batches.next();
 * assert.deepEqual(first.value?.map((update) => update.data), ["old"]);
 * controller.abort();
 * await batches.return(undefined);
 * broker.close();
 * kv.close();
 * ```
 */
export async function* subscribeUpdates(
  source: SubscriptionSource,
  options: SubscriptionOptions,
): AsyncGenerator<StoredUpdate[], void, void> {
  const { log, broker, fanout } = source;
  const { selectors, accepts, signal } = options;
  const subscriber = new Subscriber(
    selectors,
    accepts,
    options.maxQueuedBytes ?? 1_048_576,
    broker.cursor,
  );
  const registeredAt = broker.cursor;
  let waitingForConsumer = false;
  let handedOff = false;
  subscriber.onOverflow = () => {
    if (waitingForConsumer) options.onStalled?.();
  };
  fanout.add(subscriber);
  let sentSeq = options.afterSeq ?? registeredAt;
  const throttled = new Map<string, StoredUpdate>();
  try {
    // 1. History (and any later catch-up after an overflow) comes from KV.
    let catchUpTo = options.afterSeq !== undefined && options.afterSeq < registeredAt
      ? registeredAt
      : -1;
    while (!signal.aborted) {
      if (subscriber.overflowedAt !== undefined) {
        catchUpTo = subscriber.lastSeq;
        subscriber.overflowedAt = undefined;
        subscriber.take();
      }
      let batch: StoredUpdate[];
      if (catchUpTo > sentSeq) {
        const page = await readHistory(log, selectors, sentSeq, catchUpTo);
        batch = page.updates.filter(accepts);
        if (page.reachedSeq >= catchUpTo) catchUpTo = -1;
        if (batch.length === 0) {
          sentSeq = page.reachedSeq;
          continue;
        }
      } else {
        // 2. Live updates, queued by the fan-out.
        batch = subscriber.take().filter((update) => update.seq > sentSeq);
        if (batch.length === 0) {
          if (options.handOff && !options.throttleMs && subscriber.overflowedAt === undefined) {
            handedOff = true;
            // Push mode never queues, so never overflows: drop the closure that would keep this
            // generator's state alive for the life of the connection.
            subscriber.onOverflow = ignoreOverflow;
            options.handOff(subscriber);
            return;
          }
          if (!(await subscriber.notifier.wait(signal))) return;
          continue;
        }
      }
      if (options.throttleMs) {
        for (const update of batch) throttled.set(update.topics[0], update);
        batch = [...throttled.values()].sort((a, b) => a.seq - b.seq);
        throttled.clear();
      }
      const finalIndex = options.isFinal ? batch.findIndex(options.isFinal) : -1;
      if (finalIndex >= 0) batch = batch.slice(0, finalIndex + 1);
      sentSeq = batch[batch.length - 1].seq;
      waitingForConsumer = true;
      yield batch;
      waitingForConsumer = false;
      options.onSent?.(batch.length);
      if (finalIndex >= 0) return;
      if (options.throttleMs) {
        if (!(await sleep(options.throttleMs, signal))) return;
        // Conflate what queued meanwhile: keep only the latest per topic (the loop above).
      }
    }
  } finally {
    if (!handedOff) fanout.remove(subscriber);
  }
}

/**
 * Streams one subscription as SSE byte chunks (one chunk per batch).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { EventLog } from "./_event_log.ts";
 * import { Broker } from "./_broker.ts";
 * import { Fanout } from "./_fanout.ts";
 * import { subscribe } from "./_subscription.ts";
 * import { SelectorSet } from "../topics/mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const log = await EventLog.open(new KvTransport(kv));
 * const broker = await Broker.start(log);
 * const fanout = new Fanout();
 * broker.listen((updates) => fanout.dispatch(updates));
 * await log.append({ topics: ["t"], data: "old", id: "e" });
 * const controller = new AbortController();
 * const stream = subscribe({ log, broker, fanout }, {
 *   selectors: new SelectorSet(["t"]), afterSeq: 0, accepts: () => true, signal: controller.signal,
 * });
 * const first = await stream.next();
 * assert.equal(new TextDecoder().decode(first.value!), "id: e\ndata: old\n\n");
 * controller.abort();
 * await stream.return(undefined);
 * broker.close();
 * kv.close();
 * ```
 */
export async function* subscribe(
  source: SubscriptionSource,
  options: SubscriptionOptions,
): AsyncGenerator<Uint8Array, void, void> {
  for await (const batch of subscribeUpdates(source, options)) yield encodeBatch(batch);
}
