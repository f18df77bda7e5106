/**
 * Runs the demo feeds as producers: each feed runs ONCE per cluster (elected by a KV lease) and
 * publishes its events to its topic, so every viewer of a topic sees the same events.
 *
 * @module
 */

import { type Hub, type StoredUpdate } from "../hub/mod.ts";
import type { FeedEvent } from "./feed.ts";
import { log } from "../util/logger.ts";

/**
 * Publishes every event of a feed to `topic` until the feed ends or `signal` aborts; returns the
 * last update published.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { Hub } from "../hub/mod.ts";
 * import { pumpFeed } from "./producers.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(new KvTransport(kv));
 * async function* twoEvents() {
 *   yield { type: "tick", data: { n: 1 } };
 *   yield { type: "tick", data: { n: 2 }, final: true };
 * }
 * const last = await pumpFeed(hub, "demo", twoEvents());
 * assert.equal(last?.data, '{"n":2}');
 * hub.close();
 * kv.close();
 * ```
 */
export async function pumpFeed(
  hub: Hub,
  topic: string,
  feed: AsyncIterable<FeedEvent>,
): Promise<StoredUpdate | undefined> {
  let last: StoredUpdate | undefined;
  for await (const event of feed) {
    last = await hub.publish({
      topics: [topic],
      type: event.type,
      data: JSON.stringify(event.data),
    });
    if (event.final) break;
  }
  return last;
}

/**
 * Keeps a shared, endless feed running somewhere in the cluster: this isolate competes for the
 * lease `feed:<topic>` and, while it holds it, runs the feed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { Hub } from "../hub/mod.ts";
 * import { runSharedFeed } from "./producers.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(new KvTransport(kv));
 * const controller = new AbortController();
 * await runSharedFeed(hub, "demo", async function* () {
 *   yield { type: "hello", data: { n: 1 } };
 *   controller.abort();
 * }, controller.signal);
 * const [update] = await hub.log.readTopic("demo", 0, 10);
 * assert.deepEqual([update.type, update.data], ["hello", '{"n":1}']);
 * hub.close();
 * kv.close();
 * ```
 */
export function runSharedFeed(
  hub: Hub,
  topic: string,
  makeFeed: (signal: AbortSignal) => AsyncIterable<FeedEvent>,
  signal: AbortSignal,
): Promise<void> {
  return hub.runWithLease({
    name: `feed:${topic}`,
    job: async (held) => {
      log("info", "feed producer started", { topic });
      try {
        await pumpFeed(hub, topic, makeFeed(held));
      } finally {
        log("info", "feed producer stopped", { topic });
      }
    },
    signal,
  });
}

/** State of a finite feed (an order or a game) kept in KV. */
export interface FiniteFeedState {
  id: string;
  status: "running" | "completed";
  createdAt: string;
  /** The id of the final event, once sent: a reconnect after it gets 204. */
  finalEventId?: string;
  [extra: string]: unknown;
}

/** A finite feed (an order, a game) to produce once in the cluster. */
export interface FiniteFeed {
  /** Its kind: its record is `[kind, id]` and its lease `<kind>:<id>`. */
  kind: string;
  id: string;
  topic: string;
  /** The type of its last event. */
  finalType: string;
  /** Makes the events; `resumeFrom` is the data of the last event a dead producer published. */
  makeFeed: (signal: AbortSignal, resumeFrom?: Record<string, unknown>) => AsyncIterable<FeedEvent>;
  /** How long the record stays once the feed ended (KV `expireIn`). Default one day. */
  recordTtlMs?: number;
  /** Called once the producer that ended the feed recorded its end (whichever isolate it is). */
  onCompleted?: (state: FiniteFeedState) => Promise<void> | void;
}

/**
 * Runs a finite feed once in the cluster under the lease `<kind>:<id>`, and records its final event
 * (of type `finalType`) id in `[kind, id]` when it ends. A producer taking over from one that died
 * gets the data of the last event published, to continue from it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { Hub } from "../hub/mod.ts";
 * import { runFiniteFeed } from "./producers.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const hub = await Hub.open(transport);
 * await hub.records.set(["orders", "o1"], { id: "o1", status: "running", createdAt: "" });
 * let ended = false;
 * await runFiniteFeed(hub, {
 *   kind: "orders",
 *   id: "o1",
 *   topic: "orders/o1",
 *   finalType: "done",
 *   makeFeed: async function* () {
 *     yield { type: "done", data: {}, final: true };
 *   },
 *   onCompleted: () => {
 *     ended = true;
 *   },
 * }, new AbortController().signal);
 * assert.equal((await hub.records.get<{ status: string }>(["orders", "o1"]))?.status, "completed");
 * assert.ok(ended);
 * hub.close();
 * transport.close();
 * ```
 */
export function runFiniteFeed(hub: Hub, feed: FiniteFeed, signal: AbortSignal): Promise<void> {
  const { kind, id, topic, finalType } = feed;
  return hub.runWithLease({
    name: `${kind}:${id}`,
    signal,
    once: true,
    ttlMs: 4000,
    job: async (held) => {
      const state = await hub.records.get<FiniteFeedState>([kind, id]);
      if (!state || state.status === "completed") return;
      // A producer that died left events behind: finish the record, or continue from its last event.
      const previous = await hub.newest(topic);
      let last = previous?.type === finalType ? previous : undefined;
      if (!last) {
        const resumeFrom = previous
          ? JSON.parse(previous.data) as Record<string, unknown>
          : undefined;
        last = await pumpFeed(hub, topic, feed.makeFeed(held, resumeFrom));
        if (held.aborted || !last) return;
      }
      const completed: FiniteFeedState = {
        ...state,
        status: "completed",
        finalEventId: last.id,
      };
      await hub.records.set([kind, id], completed, {
        expireInMs: feed.recordTtlMs ?? 86_400_000,
      });
      await feed.onCompleted?.(completed);
    },
  });
}

/** Per kind, the finite feeds this isolate produces or stands by to produce. */
const competing = new Map<string, Set<string>>();

/**
 * How many finite feeds of `kind` this isolate produces or stands by to produce right now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { liveFiniteFeeds } from "./producers.ts";
 * assert.equal(liveFiniteFeeds("no-such-kind"), 0);
 * ```
 */
export function liveFiniteFeeds(kind: string): number {
  return competing.get(kind)?.size ?? 0;
}

/** A place held in this isolate for a finite feed whose record is not written yet. */
export interface FiniteFeedPlace {
  /** Starts competing to produce the feed (its record must exist by now). */
  start(hub: Hub, feed: FiniteFeed): void;
  /** Gives the place back unused. */
  cancel(): void;
}

/**
 * Holds a place for the finite feed `kind`/`id` in this isolate, before anything is written:
 * undefined when `maxLocal` feeds of that kind are already here. (A feed already here gets a place
 * whose `start` only starts it if it has stopped meanwhile and there is room, and whose `cancel`
 * does nothing.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { liveFiniteFeeds, reserveFiniteFeed } from "./producers.ts";
 * const place = reserveFiniteFeed("demo-kind", "x", 1);
 * assert.ok(place);
 * assert.equal(reserveFiniteFeed("demo-kind", "y", 1), undefined);
 * place.cancel();
 * assert.equal(liveFiniteFeeds("demo-kind"), 0);
 * ```
 */
export function reserveFiniteFeed(
  kind: string,
  id: string,
  maxLocal: number,
): FiniteFeedPlace | undefined {
  let ids = competing.get(kind);
  if (!ids) competing.set(kind, ids = new Set());
  const free = () => ids.delete(id);
  if (ids.has(id)) {
    return {
      start(hub, feed) {
        if (ids.has(id) || ids.size >= maxLocal) return;
        ids.add(id);
        runFiniteFeed(hub, feed, hub.closing).finally(free);
      },
      cancel() {},
    };
  }
  if (ids.size >= maxLocal) return undefined;
  ids.add(id);
  let used = false;
  return {
    start(hub, feed) {
      if (used) return;
      used = true;
      runFiniteFeed(hub, feed, hub.closing).finally(free);
    },
    cancel() {
      if (used) return;
      used = true;
      free();
    },
  };
}

/**
 * Makes sure this isolate competes to produce a finite feed (no-op when it already does), so the
 * feed survives the death of its producer as long as someone watches it. Returns false when
 * `maxLocal` feeds of its kind are already running here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { Hub } from "../hub/mod.ts";
 * import { ensureFiniteFeed } from "./producers.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(new KvTransport(kv));
 * const started = ensureFiniteFeed(hub, {
 *   kind: "orders",
 *   id: "o2",
 *   topic: "orders/o2",
 *   finalType: "done",
 *   makeFeed: async function* () {},
 * }, 10);
 * assert.ok(started);
 * hub.close();
 * kv.close();
 * ```
 */
export function ensureFiniteFeed(hub: Hub, feed: FiniteFeed, maxLocal: number): boolean {
  const place = reserveFiniteFeed(feed.kind, feed.id, maxLocal);
  place?.start(hub, feed);
  return place !== undefined;
}
