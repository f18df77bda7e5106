/**
 * Retention in Deno KV: trims each topic's log to its newest N updates and to a maximum age, and
 * the global log to a larger cap. The hub runs it in the background (one trimmer per cluster,
 * under a lease), so publishing is never blocked. Trimming records how far it went (`["trimmed", topic]`), so a resume from a
 * trimmed position is recognised instead of silently skipping what was lost.
 *
 * @module
 */

import { keepsTopicLog, type RetentionPolicy, SUBSCRIPTION_TOPIC_PREFIX } from "../hub/mod.ts";
import { GLOBAL_LOG, HEAD_KEY, topicLog, trimmedKey } from "./keys.ts";
import { type LogRow, rowUpdates } from "./log_rows.ts";

/**
 * The highest position trimmed away from a topic's log (or the global log for `"*"`); 0 if none.
 */
export async function trimmedUpTo(kv: Deno.Kv, topic: string | "*"): Promise<number> {
  return (await kv.get<number>(trimmedKey(topic))).value ?? 0;
}

async function countBoundary(kv: Deno.Kv, prefix: Deno.KvKey, keep: number): Promise<number> {
  // The (keep+1)-th newest position of a log: it and everything older goes.
  let index = 0;
  for await (const entry of kv.list<LogRow>({ prefix }, { reverse: true, batchSize: 100 })) {
    const updates = rowUpdates(entry.value);
    for (let i = updates.length - 1; i >= 0; i--) {
      if (++index > keep) return updates[i].seq;
    }
  }
  return 0;
}

async function ageBoundary(kv: Deno.Kv, prefix: Deno.KvKey, oldestTime: number): Promise<number> {
  let boundary = 0;
  for await (const entry of kv.list<LogRow>({ prefix }, { batchSize: 100 })) {
    for (const update of rowUpdates(entry.value)) {
      if (update.time >= oldestTime) return boundary;
      boundary = update.seq;
    }
  }
  return boundary;
}

/**
 * Deletes the rows of a log whose updates are all at or before `boundary` (a row that also holds
 * newer updates stays whole) and records the newest position deleted.
 */
async function deleteUpTo(kv: Deno.Kv, prefix: Deno.KvKey, markKey: Deno.KvKey, boundary: number) {
  if (boundary <= 0) return 0;
  let deleted = 0;
  let deletedUpTo = 0;
  let atomic = kv.atomic();
  let inAtomic = 0;
  for await (const entry of kv.list<LogRow>({ start: prefix, end: [...prefix, boundary + 1] })) {
    const newest = rowUpdates(entry.value).at(-1)!.seq;
    if (newest > boundary) break;
    atomic.delete(entry.key);
    deleted++;
    deletedUpTo = newest;
    if (++inAtomic === 500) {
      await atomic.commit();
      atomic = kv.atomic();
      inAtomic = 0;
    }
  }
  const previous = (await kv.get<number>(markKey)).value ?? 0;
  if (deletedUpTo > previous) atomic.set(markKey, deletedUpTo);
  await atomic.commit();
  return deleted;
}

/**
 * Trims the given topics' logs and the global log once; returns how many log rows (each one commit's updates) were deleted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvTransport } from "./kv_transport.ts";
 * import { trim, trimmedUpTo } from "./retention.ts";
 * const kv = await Deno.openKv(":memory:");
 * const transport = new KvTransport(kv);
 * const update = (seq: number) => ({ seq, id: `${seq}`, topics: ["news"], data: `${seq}`, time: Date.now() });
 * for (const seq of [1, 2, 3]) await kv.set(["topic", "news", seq], [update(seq)]);
 * const deleted = await trim(kv, ["news"], { perTopic: 1, global: 100, maxAgeMs: 60_000 });
 * assert.equal(deleted, 2);
 * assert.equal(await trimmedUpTo(kv, "news"), 2);
 * assert.deepEqual((await transport.readTopic("news", 0, 10, 10)).map((u) => u.data), ["3"]);
 * kv.close();
 * ```
 */
export async function trim(
  kv: Deno.Kv,
  topics: Iterable<string>,
  policy: RetentionPolicy,
  now = Date.now(),
): Promise<number> {
  const oldestTime = now - policy.maxAgeMs;
  let deleted = 0;
  for (const topic of topics) {
    if (!keepsTopicLog(topic)) {
      // A log an earlier version kept for a subscription topic: nothing reads it any more.
      deleted += await dropLog(kv, topic);
      continue;
    }
    const prefix = topicLog(topic);
    const boundary = Math.max(
      await countBoundary(kv, prefix, policy.perTopic),
      await ageBoundary(kv, prefix, oldestTime),
    );
    deleted += await deleteUpTo(kv, prefix, trimmedKey(topic), boundary);
  }
  const head = (await kv.get<number>(HEAD_KEY)).value ?? 0;
  const globalBoundary = Math.max(
    head - policy.global,
    await ageBoundary(kv, GLOBAL_LOG, oldestTime),
  );
  deleted += await deleteUpTo(kv, GLOBAL_LOG, trimmedKey("*"), globalBoundary);
  return deleted;
}

/** Deletes a topic's whole log and its trim mark; returns the rows deleted. */
async function dropLog(kv: Deno.Kv, topic: string): Promise<number> {
  let deleted = 0;
  let atomic = kv.atomic().delete(trimmedKey(topic));
  let inAtomic = 1;
  for await (const entry of kv.list({ prefix: topicLog(topic) })) {
    atomic.delete(entry.key);
    deleted++;
    if (++inAtomic === 500) {
      await atomic.commit();
      atomic = kv.atomic();
      inAtomic = 0;
    }
  }
  await atomic.commit();
  return deleted;
}

/**
 * Deletes trim marks that earlier versions left for subscription topics (one per subscription
 * ever made, kept after retention emptied its log), at most 500 a call.
 */
export async function dropSubscriptionMarks(kv: Deno.Kv): Promise<void> {
  const atomic = kv.atomic();
  let found = 0;
  const marks = kv.list({
    start: trimmedKey(SUBSCRIPTION_TOPIC_PREFIX),
    end: trimmedKey(`${SUBSCRIPTION_TOPIC_PREFIX}\u{10FFFF}`),
  }, { limit: 500 });
  for await (const entry of marks) {
    atomic.delete(entry.key);
    found++;
  }
  if (found > 0) await atomic.commit();
}

/**
 * Lists every topic that has a log, for a full trimming pass.
 */
export async function listTopics(kv: Deno.Kv): Promise<string[]> {
  const topics: string[] = [];
  let start: Deno.KvKey = ["topic"];
  while (true) {
    let found: string | undefined;
    for await (const entry of kv.list({ start, end: ["topic\0"] }, { limit: 1 })) {
      found = entry.key[1] as string;
    }
    if (found === undefined) return topics;
    topics.push(found);
    start = ["topic", found + "\0"];
  }
}
