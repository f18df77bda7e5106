import assert from "node:assert/strict";
import { EventLog } from "../lib/event_log.ts";
import { retryingKv } from "../lib/kv_busy_retry.ts";
import { makeHubId, parseHubId } from "../lib/update.ts";
import { trim, trimmedUpTo } from "../lib/retention.ts";

Deno.test("event log gives concurrent appends contiguous positions in few commits", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const log = await EventLog.open(kv);
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
    const a = await EventLog.open(kvA);
    const b = await EventLog.open(kvB);
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
    const log = await EventLog.open(kv);
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
  for (const seq of [1, 255, 256, 65_535, 16_777_216, 2 ** 40 + 7]) {
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
    const log = await EventLog.open(kv);
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
