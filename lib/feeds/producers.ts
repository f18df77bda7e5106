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
 * await runFiniteFeed(hub, "orders", "o1", "orders/o1", "done", async function* () {
 *   yield { type: "done", data: {}, final: true };
 * }, new AbortController().signal);
 * assert.equal((await hub.records.get<{ status: string }>(["orders", "o1"]))?.status, "completed");
 * hub.close();
 * transport.close();
 * ```
 */
export function runFiniteFeed(
  hub: Hub,
  kind: string,
  id: string,
  topic: string,
  finalType: string,
  makeFeed: (signal: AbortSignal, resumeFrom?: Record<string, unknown>) => AsyncIterable<FeedEvent>,
  signal: AbortSignal,
): Promise<void> {
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
        last = await pumpFeed(hub, topic, makeFeed(held, resumeFrom));
        if (held.aborted || !last) return;
      }
      await hub.records.set(
        [kind, id],
        {
          ...state,
          status: "completed",
          finalEventId: last.id,
        } satisfies FiniteFeedState,
      );
    },
  });
}

const competing = new Set<string>();

/**
 * Makes sure this isolate competes to produce a finite feed (no-op when it already does), so the
 * feed survives the death of its producer as long as someone watches it. Returns false when
 * `maxLocal` feeds are already running here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { Hub } from "../hub/mod.ts";
 * import { ensureFiniteFeed } from "./producers.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(new KvTransport(kv));
 * const feed = async function* () {};
 * assert.equal(ensureFiniteFeed(hub, "orders", "o2", "orders/o2", "done", feed, 0), false); // at the local limit
 * assert.equal(ensureFiniteFeed(hub, "orders", "o2", "orders/o2", "done", feed, 10), true);
 * hub.close();
 * kv.close();
 * ```
 */
export function ensureFiniteFeed(
  hub: Hub,
  kind: string,
  id: string,
  topic: string,
  finalType: string,
  makeFeed: (signal: AbortSignal, resumeFrom?: Record<string, unknown>) => AsyncIterable<FeedEvent>,
  maxLocal: number,
): boolean {
  const name = `${kind}:${id}`;
  if (competing.has(name)) return true;
  if (competing.size >= maxLocal) return false;
  competing.add(name);
  runFiniteFeed(hub, kind, id, topic, finalType, makeFeed, hub.closing)
    .finally(() => competing.delete(name));
  return true;
}
