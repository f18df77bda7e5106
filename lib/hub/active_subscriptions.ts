/**
 * Active subscriptions (Mercure): a record per subscribed selector kept in KV while the
 * connection lives, a private update on
 * `/.well-known/mercure/subscriptions/{topic}/{subscriber}` when it starts and ends, and the
 * lists the subscriptions API and the chat presence read.
 *
 * Records carry `expiresAt` and are renewed by one shared timer per isolate, so a record left by
 * an isolate that died disappears within {@link RECORD_TTL_MS}.
 *
 * @module
 */

import type { Hub } from "./hub.ts";
import { KvBatchWriter } from "../kv/batch_writer.ts";

/** How long a record lives without renewal. */
export const RECORD_TTL_MS = 60_000;
const RENEW_EVERY_MS = 20_000;

/** A subscription as the subscriptions API shows it (JSON-LD). */
export interface SubscriptionRecord {
  id: string;
  type: "Subscription";
  topic: string;
  subscriber: string;
  active: boolean;
  payload?: unknown;
}

interface StoredRecord extends SubscriptionRecord {
  expiresAt: number;
}

/** The prefix of every subscription topic. */
export const SUBSCRIPTION_TOPIC_PREFIX = "/.well-known/mercure/subscriptions/";

/**
 * The topic (and `id`) of a subscription's updates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subscriptionTopic } from "./active_subscriptions.ts";
 * assert.equal(subscriptionTopic("a/b", "u"), "/.well-known/mercure/subscriptions/a%2Fb/u");
 * ```
 */
export function subscriptionTopic(selector: string, subscriber: string): string {
  return `${SUBSCRIPTION_TOPIC_PREFIX}${encodeURIComponent(selector)}/${
    encodeURIComponent(subscriber)
  }`;
}

const recordKey = (selector: string, subscriber: string): Deno.KvKey => [
  "subscriptions",
  selector,
  subscriber,
];

const live = new Map<string, { kv: Deno.Kv; record: StoredRecord }>();
/** Records of many connections opening (or closing) at once share commits. */
const writers = new WeakMap<Deno.Kv, KvBatchWriter>();

function writerFor(kv: Deno.Kv): KvBatchWriter {
  let writer = writers.get(kv);
  if (!writer) writers.set(kv, writer = new KvBatchWriter(kv));
  return writer;
}
let renewTimer: ReturnType<typeof setInterval> | undefined;

async function renewAll(): Promise<void> {
  const expiresAt = Date.now() + RECORD_TTL_MS;
  const entries = [...live.values()];
  for (let i = 0; i < entries.length; i += 400) {
    const batch = entries.slice(i, i + 400);
    const atomic = batch[0].kv.atomic();
    for (const { record } of batch) {
      record.expiresAt = expiresAt;
      atomic.set(recordKey(record.topic, record.subscriber), record, {
        expireIn: RECORD_TTL_MS * 2,
      });
    }
    await atomic.commit().catch(() => {});
  }
}

/**
 * Records one selector of a new subscription and publishes its "active" update. Returns the
 * function that ends it (publishes the "inactive" update and deletes the record).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hub } from "./hub.ts";
 * import { listSubscriptions, openSubscription } from "./active_subscriptions.ts";
 * const kv = await Deno.openKv(":memory:");
 * const hub = await Hub.open(kv);
 * const end = await openSubscription(hub, "news", "urn:uuid:1", { user: "ann" });
 * const [record] = await listSubscriptions(kv, "news");
 * assert.deepEqual([record.subscriber, record.active, record.payload], ["urn:uuid:1", true, { user: "ann" }]);
 * await end();
 * assert.deepEqual(await listSubscriptions(kv, "news"), []);
 * hub.close();
 * kv.close();
 * ```
 */
export async function openSubscription(
  hub: Hub,
  selector: string,
  subscriber: string,
  payload?: unknown,
): Promise<() => Promise<void>> {
  const id = subscriptionTopic(selector, subscriber);
  const record: StoredRecord = {
    id,
    type: "Subscription",
    topic: selector,
    subscriber,
    active: true,
    expiresAt: Date.now() + RECORD_TTL_MS,
  };
  // Estimated stored size: strings at up to 2 bytes a character, plus the payload's JSON.
  let size = 128 + 2 * (id.length + selector.length + subscriber.length);
  if (payload !== undefined) {
    record.payload = payload;
    size += 2 * (JSON.stringify(payload)?.length ?? 0);
  }
  // Refused here, not in the shared commit, where it would fail the other records with it.
  if (size > 60 * 1024) throw new RangeError("subscription payload too large to record");
  const key = recordKey(selector, subscriber);
  const writer = writerFor(hub.kv);
  await writer.set(key, record, { expireIn: RECORD_TTL_MS * 2, size });
  live.set(id, { kv: hub.kv, record });
  if (renewTimer === undefined) {
    renewTimer = setInterval(() => void renewAll(), RENEW_EVERY_MS);
    Deno.unrefTimer(renewTimer);
  }
  await publishRecord(hub, record);
  let ended = false;
  return async () => {
    if (ended) return;
    ended = true;
    live.delete(id);
    if (live.size === 0 && renewTimer !== undefined) {
      clearInterval(renewTimer);
      renewTimer = undefined;
    }
    try {
      await writer.delete(key);
      await publishRecord(hub, { ...record, active: false });
    } catch {
      // KV closed during shutdown: the record expires by itself.
    }
  };
}

function publishRecord(hub: Hub, record: StoredRecord) {
  const { expiresAt: _expiresAt, ...visible } = record;
  return hub.publish({
    topics: [record.id],
    data: JSON.stringify({ "@context": "https://mercure.rocks/", ...visible }),
    private: true,
  });
}

/**
 * Lists live subscription records, optionally only those of one selector.
 */
export async function listSubscriptions(
  kv: Deno.Kv,
  selector?: string,
): Promise<SubscriptionRecord[]> {
  const now = Date.now();
  const records: SubscriptionRecord[] = [];
  const prefix = selector === undefined ? ["subscriptions"] : ["subscriptions", selector];
  for await (const entry of kv.list<StoredRecord>({ prefix })) {
    if (entry.value.expiresAt < now) continue;
    const { expiresAt: _expiresAt, ...visible } = entry.value;
    records.push(visible);
  }
  return records;
}
