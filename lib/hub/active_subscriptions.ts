/**
 * Active subscriptions (Mercure): a record per subscribed selector kept in the store while the
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
import type { RecordKey, RecordStore } from "./transport.ts";
import { SUBSCRIPTION_TOPIC_PREFIX } from "./topic_logs.ts";

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

export { SUBSCRIPTION_TOPIC_PREFIX } from "./topic_logs.ts";

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

const recordKey = (selector: string, subscriber: string): RecordKey => [
  "subscriptions",
  selector,
  subscriber,
];

/** A subscriber id as long as any the hub makes, for sizing keys ahead of time. */
const LONGEST_SUBSCRIBER = `urn:uuid:${"0".repeat(36)}`;

/**
 * Why a selector's subscription cannot be recorded (its subscription topic, the selector
 * percent-encoded, or its record key would be too long for the store), or `undefined` when it
 * can. A route refuses such a selector up front, so no shared write ever meets it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hub } from "./hub.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { subscriptionRecordRefusal } from "./active_subscriptions.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const hub = await Hub.open(transport);
 * assert.equal(subscriptionRecordRefusal(hub, "https://example.com/books/{id}"), undefined);
 * assert.match(subscriptionRecordRefusal(hub, "/".repeat(1024))!, /too long/);
 * hub.close();
 * transport.close();
 * ```
 */
export function subscriptionRecordRefusal(hub: Hub, selector: string): string | undefined {
  const topic = subscriptionTopic(selector, LONGEST_SUBSCRIBER);
  const why = hub.log.transport.appendRefusal({ input: { topics: [topic], data: "" }, size: 0 }) ??
    hub.records.keyRefusal(recordKey(selector, LONGEST_SUBSCRIBER));
  if (why === undefined) return undefined;
  return `topic selector too long for its subscription topic (${topic.length} bytes once ` +
    `percent-encoded): ${why}`;
}

const live = new Map<string, { records: RecordStore; record: StoredRecord }>();
let renewTimer: ReturnType<typeof setInterval> | undefined;

async function renewAll(): Promise<void> {
  const expiresAt = Date.now() + RECORD_TTL_MS;
  // The store batches these sets into shared writes.
  await Promise.all(
    [...live.values()].map(({ records, record }) => {
      record.expiresAt = expiresAt;
      return records.set(recordKey(record.topic, record.subscriber), record, {
        expireInMs: RECORD_TTL_MS * 2,
      }).catch(() => {});
    }),
  );
}

/**
 * Records one selector of a new subscription and publishes its "active" update. Returns the
 * function that ends it (publishes the "inactive" update and deletes the record).
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
  if (payload !== undefined) record.payload = payload;
  const key = recordKey(selector, subscriber);
  // A record the store cannot take is refused for this subscription alone.
  await hub.records.set(key, record, { expireInMs: RECORD_TTL_MS * 2 });
  live.set(id, { records: hub.records, record });
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
      await hub.records.delete(key);
      await publishRecord(hub, { ...record, active: false });
    } catch {
      // The store closed during shutdown: the record expires by itself.
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hub } from "./hub.ts";
 * import { KvTransport } from "../kv/kv_transport.ts";
 * import { listSubscriptions, openSubscription } from "./active_subscriptions.ts";
 * const transport = new KvTransport(await Deno.openKv(":memory:"));
 * const hub = await Hub.open(transport);
 * const end = await openSubscription(hub, "news", "urn:uuid:1", { user: "ann" });
 * const [record] = await listSubscriptions(hub.records, "news");
 * assert.deepEqual([record.subscriber, record.active, record.payload], ["urn:uuid:1", true, { user: "ann" }]);
 * await end();
 * assert.deepEqual(await listSubscriptions(hub.records, "news"), []);
 * hub.close();
 * transport.close();
 * ```
 */
export async function listSubscriptions(
  records: RecordStore,
  selector?: string,
): Promise<SubscriptionRecord[]> {
  const now = Date.now();
  const found: SubscriptionRecord[] = [];
  const prefix = selector === undefined ? ["subscriptions"] : ["subscriptions", selector];
  for await (const [, value] of records.list<StoredRecord>(prefix)) {
    if (value.expiresAt < now) continue;
    const { expiresAt: _expiresAt, ...visible } = value;
    found.push(visible);
  }
  return found;
}
