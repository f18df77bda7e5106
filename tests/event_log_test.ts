import assert from "node:assert/strict";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { EventLog } from "../lib/hub/_event_log.ts";
import { StorageUnavailableError } from "../lib/hub/transport.ts";
import { retryingKv } from "../lib/kv/busy_retry.ts";
import { makeHubId, parseHubId } from "../lib/hub/update.ts";
import { trim, trimmedUpTo } from "../lib/kv/retention.ts";

Deno.test("event log gives concurrent appends contiguous positions in few commits", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    const stored = await Promise.all(
      Array.from({ length: 500 }, (_, n) => log.append({ topics: ["t"], data: String(n) })),
    );
    assert.deepEqual(
      stored.map((update) => update.seq),
      Array.from({ length: 500 }, (_, n) => n + 1),
    );
    assert.deepEqual(
      stored.map((update) => update.data),
      Array.from({ length: 500 }, (_, n) => String(n)),
    );
    assert.ok(log.stats.commits < 50, `500 appends took ${log.stats.commits} commits`);
    assert.equal(await log.headSeq(), 500);
    const read = await log.read(100, 110);
    assert.deepEqual(read.map((update) => update.seq), [
      101,
      102,
      103,
      104,
      105,
      106,
      107,
      108,
      109,
      110,
    ]);
  } finally {
    kv.close();
  }
});

Deno.test("two event logs on one KV file never hand out the same position", async () => {
  const dir = await Deno.makeTempDir();
  const kvA = retryingKv(await Deno.openKv(`${dir}/log.kv`));
  const kvB = retryingKv(await Deno.openKv(`${dir}/log.kv`));
  try {
    const a = await EventLog.open(new KvTransport(kvA));
    const b = await EventLog.open(new KvTransport(kvB));
    assert.equal(a.epoch, b.epoch);
    const appends = [];
    for (let n = 0; n < 300; n++) {
      appends.push(
        a.append({ topics: ["x"], data: `a${n}` }),
        b.append({ topics: ["x"], data: `b${n}` }),
      );
    }
    const stored = await Promise.all(appends);
    const seqs = stored.map((update) => update.seq).sort((x, y) => x - y);
    assert.deepEqual(seqs, Array.from({ length: 600 }, (_, n) => n + 1));
    const logged = await a.read(0, 600);
    assert.equal(logged.length, 600);
    assert.deepEqual(new Set(logged.map((update) => update.data)).size, 600);
  } finally {
    kvA.close();
    kvB.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("event log resolves a publisher's id to its position and keeps per-topic logs", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    await log.append({ topics: ["a"], data: "1" });
    const mine = await log.append({
      topics: ["b", "alt"],
      data: "2",
      id: "order-42",
      type: "created",
    });
    await log.append({ topics: ["a"], data: "3" });
    assert.equal(mine.id, "order-42");
    assert.equal(await log.seqOfId("order-42"), 2);
    assert.equal(await log.seqOfId("unknown"), undefined);
    assert.deepEqual((await log.readTopic("a", 0, 3)).map((update) => update.data), ["1", "3"]);
    assert.deepEqual((await log.readTopic("alt", 0, 3)).map((update) => update.type), ["created"]);
    assert.equal(await log.seqBeforeNewest("a", 1), 2);
  } finally {
    kv.close();
  }
});

Deno.test("hub ids carry their position and are not recognised from another epoch", () => {
  for (const seq of [1, 255, 256, 65_535, 65_536, 16_777_216, 2 ** 40 - 7]) {
    const id = makeHubId(seq, 123_456_789);
    assert.match(
      id,
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(parseHubId(id, 123_456_789), seq);
    assert.equal(parseHubId(id, 987_654_321), undefined);
  }
  assert.equal(parseHubId("urn:uuid:not-a-hub-id", 1), undefined);
});

Deno.test("retention keeps the newest updates per topic and records how far it trimmed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    for (let n = 1; n <= 30; n++) {
      await log.append({ topics: [n % 2 ? "odd" : "even"], data: String(n) });
    }
    const deleted = await trim(kv, ["odd", "even"], { perTopic: 5, global: 12, maxAgeMs: 60_000 });
    assert.deepEqual((await log.readTopic("odd", 0, 30)).map((u) => u.data), [
      "21",
      "23",
      "25",
      "27",
      "29",
    ]);
    assert.deepEqual((await log.readTopic("even", 0, 30)).map((u) => u.data), [
      "22",
      "24",
      "26",
      "28",
      "30",
    ]);
    assert.equal((await log.read(0, 30)).length, 12);
    assert.equal(await trimmedUpTo(kv, "odd"), 19);
    assert.equal(await trimmedUpTo(kv, "*"), 18);
    assert.equal(deleted, 20 + 18);
  } finally {
    kv.close();
  }
});

async function rowCount(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let rows = 0;
  for await (const _ of kv.list({ prefix })) rows++;
  return rows;
}

Deno.test("event log packs a group commit into one row per log and reads ranges inside rows", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    await Promise.all(
      Array.from(
        { length: 300 },
        (_, n) => log.append({ topics: ["all", `t${n % 3}`], data: `${n}` }),
      ),
    );
    assert.equal(await rowCount(kv, ["log"]), log.stats.commits);
    assert.equal(await rowCount(kv, ["topic", "all"]), log.stats.commits);
    assert.ok(log.stats.commits < 10, `300 appends took ${log.stats.commits} commits`);
    assert.deepEqual((await log.read(149, 152)).map((update) => update.seq), [150, 151, 152]);
    assert.deepEqual((await log.readTopic("t1", 100, 110)).map((update) => update.data), [
      "100",
      "103",
      "106",
      "109",
    ]);
    assert.deepEqual((await log.readTopic("all", 0, 300, 4)).map((update) => update.seq), [
      1,
      2,
      3,
      4,
    ]);
    assert.equal(await log.seqBeforeNewest("t2", 2), 296);
    assert.equal((await log.newest("t0"))?.data, "297");
    assert.equal(await log.oldestSeq(), 1);
  } finally {
    kv.close();
  }
});

Deno.test("event log splits a commit across rows where a row would pass 64 KiB", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    const big = "x".repeat(20_000);
    const stored = await Promise.all(
      Array.from({ length: 10 }, (_, n) => log.append({ topics: ["big"], data: `${n}${big}` })),
    );
    // The first append commits alone; the nine queued behind it share the next commit, which
    // fits three 20 KB updates per row.
    assert.equal(log.stats.commits, 2);
    assert.equal(stored.at(-1)!.seq, 10);
    assert.equal(await rowCount(kv, ["log"]), 4);
    assert.equal(await rowCount(kv, ["topic", "big"]), 4);
    const read = await log.readTopic("big", 0, 10);
    assert.deepEqual(read.map((update) => update.data[0]), [..."0123456789"]);
    assert.equal(read[9].data.length, 20_001);
  } finally {
    kv.close();
  }
});

Deno.test("retention keeps a row that still holds retained updates and marks only what it deleted", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    for (const commit of [0, 1, 2]) {
      await Promise.all(
        Array.from({ length: 4 }, (_, n) => log.append({ topics: ["t"], data: `${commit}.${n}` })),
      );
    }
    // Each round commits its first append alone and the other three together:
    // rows [1] [2-4] [5] [6-8] [9] [10-12]. Keeping 6 puts the boundary at 6, inside [6-8].
    assert.equal(await rowCount(kv, ["topic", "t"]), 6);
    const deleted = await trim(kv, ["t"], { perTopic: 6, global: 100, maxAgeMs: 60_000 });
    assert.equal(deleted, 3);
    assert.equal(await trimmedUpTo(kv, "t"), 5);
    assert.deepEqual((await log.readTopic("t", 0, 12)).map((update) => update.seq), [
      6,
      7,
      8,
      9,
      10,
      11,
      12,
    ]);
  } finally {
    kv.close();
  }
});

Deno.test("log reader still reads rows written one update per row", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    for (const seq of [1, 2]) {
      const update = { seq, id: `old-${seq}`, topics: ["t"], data: `${seq}`, time: Date.now() };
      await kv.set(["log", seq], update);
      await kv.set(["topic", "t", seq], update);
    }
    await kv.set(["head"], 2);
    const appended = await log.append({ topics: ["t"], data: "3" });
    assert.equal(appended.seq, 3);
    assert.deepEqual((await log.readTopic("t", 1, 3)).map((update) => update.id), [
      "old-2",
      appended.id,
    ]);
    assert.equal((await log.newest("t"))?.data, "3");
    assert.equal(await log.seqBeforeNewest("t", 3), 0);
  } finally {
    kv.close();
  }
});

Deno.test("event log refuses an update KV cannot key, alone, and commits the ones appended with it", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(new KvTransport(kv));
    const results = await Promise.allSettled([
      log.append({ topics: ["a"], data: "1" }),
      log.append({ topics: ["b"], data: "2" }),
      log.append({ topics: ["€".repeat(1024)], data: "too long a key" }),
      log.append({ topics: ["c"], data: "3", id: "😀".repeat(600) }),
      log.append({ topics: ["d"], data: "4" }),
    ]);
    assert.deepEqual(results.map((result) => result.status), [
      "fulfilled",
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    assert.equal((results[2] as PromiseRejectedResult).reason.name, "StorageLimitError");
    const stored = results.flatMap((result) => result.status === "fulfilled" ? [result.value] : []);
    assert.deepEqual(stored.map((update) => [update.seq, update.data]), [[1, "1"], [2, "2"], [
      3,
      "4",
    ]]);
  } finally {
    kv.close();
  }
});

Deno.test("hub ids round-trip every position, across the 2^16 and 2^24 boundaries, to 2^40", () => {
  const epoch = 0x2345_6789;
  const positions = [1, 255, 256, 65_535, 65_536, 65_537, 2 ** 24 - 1, 2 ** 24, 2 ** 24 + 1];
  positions.push(2 ** 32, 2 ** 40 - 1);
  for (let seq = 65_000; seq < 70_000; seq += 7) positions.push(seq);
  for (const seq of positions) {
    const id = makeHubId(seq, epoch);
    assert.match(
      id,
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(parseHubId(id, epoch), seq, `position ${seq} (${id})`);
  }
});

Deno.test("a record transaction commits only over what it read, so concurrent counters never lose an add", async () => {
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  const { records } = transport;
  const increment = () =>
    records.transact([["count"]], ([value]) => {
      const next = ((value as number | undefined) ?? 0) + 1;
      return { writes: [{ key: ["count"], value: next }], result: next };
    });
  const results = await Promise.all(Array.from({ length: 50 }, increment));
  assert.deepEqual([...results].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.equal(await records.get(["count"]), 50);
  // A decision that writes nothing leaves the records as they were.
  assert.equal(await records.transact([["count"]], () => ({ writes: [], result: "kept" })), "kept");
  assert.equal(await records.get(["count"]), 50);
  transport.close();
});

Deno.test("when a group append fails, its updates are appended again one by one and only the bad one fails", async () => {
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  // A store that refuses any append carrying the poisoned update (as a store may refuse a batch
  // for one item it cannot take).
  const append = transport.append.bind(transport);
  transport.append = (batch, stamp, hooks) =>
    batch.some((request) => request.input.data === "poison")
      ? Promise.reject(new Error("the store refused this append"))
      : append(batch, stamp, hooks);
  try {
    const log = await EventLog.open(transport);
    const results = await Promise.allSettled(
      ["a", "b", "poison", "c", "d"].map((data) => log.append({ topics: ["t"], data })),
    );
    assert.deepEqual(results.map((result) => result.status), [
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    const appended = await log.readTopic("t", 0, 100);
    assert.deepEqual(appended.map((update) => update.data), ["a", "b", "c", "d"]);
    assert.deepEqual(appended.map((update) => update.seq), [1, 2, 3, 4]);
  } finally {
    transport.close();
  }
});

Deno.test("when a group append is refused after it was written (replicas did not confirm it), its updates are not appended again: each is refused and in the log once", async () => {
  const transport = new KvTransport(await Deno.openKv(":memory:"));
  // As the Redis engine under TIDINGS_REDIS_WAIT_REPLICAS with its replicas gone: every append
  // lands, then is refused as maybe written.
  const append = transport.append.bind(transport);
  const batches: number[] = [];
  transport.append = async (batch, stamp, hooks) => {
    batches.push(batch.length);
    await append(batch, stamp, hooks);
    hooks.missed();
    throw new StorageUnavailableError("only 0 of 1 replicas confirmed the update", {
      maybeWritten: true,
    });
  };
  try {
    const log = await EventLog.open(transport);
    const results = await Promise.allSettled(
      ["a", "b", "c", "d", "e"].map((data) => log.append({ topics: ["t"], data })),
    );
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof StorageUnavailableError);
      assert.equal(result.reason.maybeWritten, true);
    }
    // The first alone, the four queued behind it together, and nothing written twice.
    assert.deepEqual(batches, [1, 4]);
    const appended = await log.readTopic("t", 0, 100);
    assert.deepEqual(appended.map((update) => update.data), ["a", "b", "c", "d", "e"]);
    assert.deepEqual(appended.map((update) => update.seq), [1, 2, 3, 4, 5]);
  } finally {
    transport.close();
  }
});
