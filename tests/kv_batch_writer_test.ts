import assert from "node:assert/strict";
import { KvBatchWriter } from "../lib/kv/batch_writer.ts";

Deno.test("batch writer commits writes that arrive together in shared commits", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const writer = new KvBatchWriter(kv);
    await Promise.all(
      Array.from({ length: 1200 }, (_, i) => writer.set(["k", i], { i }, { expireIn: 60_000 })),
    );
    // The first write goes alone; the rest queue behind it, at most 500 to a commit.
    assert.equal(writer.commits, 4);
    const stored = await Array.fromAsync(kv.list<{ i: number }>({ prefix: ["k"] }));
    assert.deepEqual(
      stored.map((entry) => entry.value.i),
      Array.from({ length: 1200 }, (_, i) => i),
    );
  } finally {
    kv.close();
  }
});

Deno.test("batch writer applies sets and deletes in the order they were asked for", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const writer = new KvBatchWriter(kv);
    await writer.set(["a"], 1);
    await Promise.all([writer.set(["b"], 2), writer.delete(["a"]), writer.set(["c"], 3)]);
    assert.equal((await kv.get(["a"])).value, null);
    assert.equal((await kv.get(["b"])).value, 2);
    assert.equal((await kv.get(["c"])).value, 3);
  } finally {
    kv.close();
  }
});

Deno.test("batch writer splits batches by the callers' size estimates", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const writer = new KvBatchWriter(kv);
    const big = "x".repeat(50_000);
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => writer.set(["big", i], big, { size: 100_000 })),
    );
    // One alone, then 29 at five per 512 KiB commit: six commits.
    assert.equal(writer.commits, 1 + 6);
    assert.equal((await Array.fromAsync(kv.list({ prefix: ["big"] }))).length, 30);
  } finally {
    kv.close();
  }
});

Deno.test("batch writer rejects every write of a commit that fails, and goes on with the next", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const writer = new KvBatchWriter(kv);
    const tooBig = "x".repeat(70_000); // past KV's 64 KiB value limit
    const [first, failed, after] = await Promise.allSettled([
      writer.set(["ok"], 1),
      writer.set(["bad"], tooBig, { size: 10 }),
      writer.set(["later"], 2, { size: 600 * 1024 }),
    ]);
    assert.equal(first.status, "fulfilled");
    assert.equal(failed.status, "rejected");
    assert.equal(after.status, "fulfilled");
    assert.equal((await kv.get(["later"])).value, 2);
    assert.equal((await kv.get(["bad"])).value, null);
  } finally {
    kv.close();
  }
});

Deno.test("batch writer refuses a key too long for KV alone and commits its neighbours", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const writer = new KvBatchWriter(kv);
    const results = await Promise.allSettled([
      writer.set(["first"], 1),
      writer.set(["before"], 2),
      writer.set(["s", "€".repeat(700)], 3), // 2,100 bytes of UTF-8: past KV's 2,048
      writer.set(["bad"], "x".repeat(70_000), { size: 10 }), // only KV finds this one out
      writer.set(["after"], 4),
    ]);
    assert.deepEqual(results.map((result) => result.status), [
      "fulfilled",
      "fulfilled",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    assert.equal((results[2] as PromiseRejectedResult).reason.name, "StorageLimitError");
    assert.equal((await kv.get(["before"])).value, 2);
    assert.equal((await kv.get(["after"])).value, 4);
  } finally {
    kv.close();
  }
});
