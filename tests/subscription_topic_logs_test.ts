/**
 * Subscription topics (`/.well-known/mercure/subscriptions/{topic}/{subscriber}`, one per
 * subscriber) keep no log of their own, on either engine: their updates are read from the global
 * log, so a store never gains a per-topic log or a trim mark per subscription ever made, and
 * retention removes what earlier versions left.
 *
 * @module
 */

import assert from "node:assert/strict";
import { EventLog } from "../lib/hub/_event_log.ts";
import { readHistory } from "../lib/hub/_subscription.ts";
import { subscriptionTopic, type Transport } from "../lib/hub/mod.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { RedisClient } from "../lib/redis/client.ts";
import { RedisTransport } from "../lib/redis/redis_transport.ts";
import { parseRedisUrl } from "../lib/redis/url.ts";
import { SelectorSet } from "../lib/topics/mod.ts";
import { haveRedis, type RunningRedis, startRedis } from "./support/redis_server.ts";

const NEWS = "https://example.com/news";
const ALICE = subscriptionTopic(NEWS, "urn:uuid:00000000-0000-4000-8000-00000000000a");
const BOB = subscriptionTopic(NEWS, "urn:uuid:00000000-0000-4000-8000-00000000000b");
const POLICY = { perTopic: 100, global: 10_000, maxAgeMs: 60_000 };

/** Appends, in order, an update per topic list; returns their positions. */
async function appendAll(log: EventLog, topicLists: string[][]): Promise<number[]> {
  const positions: number[] = [];
  for (const [index, topics] of topicLists.entries()) {
    positions.push((await log.append({ topics, data: `${index}`, private: true })).seq);
  }
  return positions;
}

/** What every engine must show: no topic log for subscription topics, and exact replay. */
async function checkEngine(transport: Transport): Promise<void> {
  const log = await EventLog.open(transport);
  const [first, , third, fourth] = await appendAll(log, [
    [ALICE],
    [NEWS],
    [BOB, NEWS],
    [ALICE],
  ]);
  assert.deepEqual((await transport.listTopics()).toSorted(), [NEWS]);
  assert.deepEqual(await transport.readTopic(ALICE, 0, fourth, 100), []);
  assert.deepEqual(
    (await transport.readTopic(NEWS, 0, fourth, 100)).map((update) => update.data),
    ["1", "2"],
  );
  // An exact subscriber of one subscription topic replays from the global log, exactly.
  const page = await readHistory(log, new SelectorSet([ALICE]), first, fourth);
  assert.deepEqual(page.updates.map((update) => [update.seq, update.data]), [[fourth, "3"]]);
  const both = await readHistory(log, new SelectorSet([ALICE, BOB]), 0, fourth);
  assert.deepEqual(both.updates.map((update) => update.seq), [first, third, fourth]);
  // Retention by age leaves no mark for them: there is no log to mark.
  await transport.trim(await transport.listTopics(), POLICY, Date.now() + 120_000);
  assert.equal(await transport.trimmedUpTo(ALICE), 0);
  assert.equal(await transport.trimmedUpTo(NEWS), third);
}

Deno.test("subscription topics keep no log or trim mark of their own in KV, and replay exactly", async () => {
  const kv = await Deno.openKv(":memory:");
  const transport = new KvTransport(kv);
  try {
    await checkEngine(transport);
    const keys: string[] = [];
    for await (const entry of kv.list({ prefix: [] })) {
      if (entry.key.includes(ALICE) || entry.key.includes(BOB)) {
        keys.push(JSON.stringify(entry.key));
      }
    }
    assert.deepEqual(keys, []);
  } finally {
    transport.close();
  }
});

Deno.test("retention removes the subscription-topic logs and marks that earlier versions left in KV", async () => {
  const kv = await Deno.openKv(":memory:");
  const transport = new KvTransport(kv);
  try {
    const update = (seq: number, topic: string) => ({
      seq,
      id: `${seq}`,
      topics: [topic],
      data: "x",
      time: 0,
    });
    // As an earlier version stored them: a log for one subscription topic, a bare mark for
    // another (its log already emptied), and a real topic's mark that must stay.
    await kv.set(["topic", ALICE, 1], [update(1, ALICE)]);
    await kv.set(["topic", ALICE, 2], [update(2, ALICE)]);
    await kv.set(["trimmed", ALICE], 1);
    await kv.set(["trimmed", BOB], 2);
    await kv.set(["trimmed", NEWS], 3);
    assert.deepEqual(await transport.listTopics(), [ALICE]);
    assert.equal(await transport.trim(await transport.listTopics(), POLICY), 2);
    assert.deepEqual(await transport.listTopics(), []);
    const left: unknown[] = [];
    for await (const entry of kv.list({ prefix: ["trimmed"] })) left.push(entry.key);
    assert.deepEqual(left, [["trimmed", NEWS]]);
  } finally {
    transport.close();
  }
});

let redis: RunningRedis | undefined;
const withRedis = { ignore: !haveRedis, sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "subscription topics keep no stream or trim mark of their own in Redis, and replay exactly",
  withRedis,
  async () => {
    redis ??= await startRedis();
    const transport = new RedisTransport({ address: parseRedisUrl(redis.url), prefix: "subs1:" });
    const client = new RedisClient({ address: parseRedisUrl(redis.url) });
    try {
      await checkEngine(transport);
      const keys = await client.command(["KEYS", "subs1:*subscriptions*"]) as string[];
      assert.deepEqual(keys, []);
    } finally {
      client.close();
      transport.close();
    }
  },
);

Deno.test(
  "retention sweeps away the subscription-topic marks earlier versions left in Redis, and only its own",
  withRedis,
  async () => {
    redis ??= await startRedis();
    // A prefix with glob characters: the sweep must match it literally.
    const transport = new RedisTransport({ address: parseRedisUrl(redis.url), prefix: "s[ab]:" });
    const client = new RedisClient({ address: parseRedisUrl(redis.url) });
    const ours = [`s[ab]:trimmed:${ALICE}`, `s[ab]:trimmed:${BOB}`];
    const kept = ["s[ab]:trimmed:news", `sa:trimmed:${ALICE}`];
    try {
      await client.pipeline([...ours, ...kept].map((key) => ["SET", key, "7"]));
      await transport.trim([], POLICY);
      const exists = await client.pipeline([...ours, ...kept].map((key) => ["EXISTS", key]));
      assert.deepEqual(exists, [0, 0, 1, 1]);
    } finally {
      await client.command(["DEL", ...ours, ...kept]);
      client.close();
      transport.close();
    }
  },
);

Deno.test(
  "retention removes the subscription-topic streams that earlier versions left in Redis",
  withRedis,
  async () => {
    redis ??= await startRedis();
    const transport = new RedisTransport({ address: parseRedisUrl(redis.url), prefix: "subs2:" });
    const client = new RedisClient({ address: parseRedisUrl(redis.url) });
    try {
      await client.pipeline([
        ["XADD", `subs2:topic:${ALICE}`, "1-0", "u", "{}", "t", "0"],
        ["SET", `subs2:trimmed:${ALICE}`, "1"],
        ["SADD", "subs2:topics", ALICE],
      ]);
      assert.deepEqual(await transport.listTopics(), [ALICE]);
      assert.equal(await transport.trim(await transport.listTopics(), POLICY), 1);
      assert.deepEqual(await transport.listTopics(), []);
      assert.deepEqual(await client.command(["KEYS", "subs2:*"]), []);
    } finally {
      client.close();
      transport.close();
      await redis?.close();
      redis = undefined;
    }
  },
);
