/**
 * Tests of the hot tail (`lib/hub/hot_tail.ts`): it answers a read only when it holds every
 * position of the range, its answers equal the store's, and a resume served from it reads nothing
 * from the store yet gives the same bytes as one read from the store.
 *
 * @module
 */

import assert from "node:assert/strict";
import { HotTail, type HotTailOptions } from "../lib/hub/_hot_tail.ts";
import { Hub } from "../lib/hub/hub.ts";
import type { Transport } from "../lib/hub/transport.ts";
import type { StoredUpdate } from "../lib/hub/update.ts";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { SelectorSet } from "../lib/topics/topic_selector.ts";

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function brute(
  log: StoredUpdate[],
  topic: string | undefined,
  afterSeq: number,
  untilSeq: number,
  limit: number,
): StoredUpdate[] {
  return log.filter((update) =>
    update.seq > afterSeq && update.seq <= untilSeq &&
    (topic === undefined || update.topics.includes(topic))
  ).slice(0, limit);
}

Deno.test("the hot tail answers only ranges it holds completely, and then exactly like the full log", () => {
  const shapes: HotTailOptions[] = [
    { globalUpdates: 5, topicUpdates: 3, maxTopics: 2 },
    { globalUpdates: 0, topicUpdates: 4, maxTopics: 3, maxBytes: 600 },
    { globalUpdates: 20, topicUpdates: 0 },
    { globalUpdates: 7, topicUpdates: 2, maxTopics: 5, skipTopic: (topic) => topic === "t1" },
  ];
  const topics = ["t0", "t1", "t2", "t3", "t4", "t5"];
  let answered = 0;
  let refused = 0;
  for (const [shapeIndex, shape] of shapes.entries()) {
    const next = random(17 + shapeIndex);
    const tail = new HotTail(shape);
    const start = 40;
    tail.reset(start);
    const log: StoredUpdate[] = [];
    let seq = start;
    for (let step = 0; step < 400; step++) {
      // A batch of 1–4 updates of 1–2 topics (sometimes the same topic twice).
      const batch: StoredUpdate[] = [];
      const size = 1 + Math.floor(next() * 4);
      for (let i = 0; i < size; i++) {
        const first = topics[Math.floor(next() * topics.length)];
        const second = topics[Math.floor(next() * topics.length)];
        const update: StoredUpdate = {
          seq: ++seq,
          id: `u${seq}`,
          topics: next() < 0.3 ? [first, second] : [first],
          data: "x".repeat(Math.floor(next() * 50)),
          time: seq,
        };
        batch.push(update);
        log.push(update);
      }
      tail.add(batch);
      for (let probe = 0; probe < 6; probe++) {
        const afterSeq = Math.max(0, seq - Math.floor(next() * 30));
        const untilSeq = afterSeq + Math.floor(next() * (seq - afterSeq + 3));
        const limit = 1 + Math.floor(next() * 8);
        const topic = next() < 0.2 ? undefined : topics[Math.floor(next() * topics.length)];
        const held = topic === undefined
          ? tail.read(afterSeq, untilSeq, limit)
          : tail.readTopic(topic, afterSeq, untilSeq, limit);
        if (held === undefined) {
          refused++;
          continue;
        }
        answered++;
        // The tail never answers past what it saw, and never with a gap or a duplicate.
        assert.ok(untilSeq <= seq);
        assert.deepEqual(
          held.map((update) => update.seq),
          brute(log, topic, afterSeq, untilSeq, limit).map((update) => update.seq),
          `shape ${shapeIndex}, ${topic ?? "*"} (${afterSeq}, ${untilSeq}] limit ${limit}`,
        );
        assert.equal(tail.covers(topic ?? "*", afterSeq), true);
      }
    }
  }
  // Both paths were exercised.
  assert.ok(answered > 1000, `answered ${answered}`);
  assert.ok(refused > 1000, `refused ${refused}`);
});

Deno.test("the hot tail forgets everything when a batch does not follow the last position", () => {
  const tail = new HotTail();
  tail.reset(0);
  const update = (seq: number): StoredUpdate => ({
    seq,
    id: `u${seq}`,
    topics: ["a"],
    data: "",
    time: 0,
  });
  tail.add([update(1), update(2)]);
  assert.deepEqual(tail.readTopic("a", 0, 2, 10)?.map((u) => u.seq), [1, 2]);
  tail.add([update(5)]);
  assert.equal(tail.readTopic("a", 0, 5, 10), undefined);
  assert.equal(tail.read(2, 5, 10), undefined);
  assert.deepEqual(tail.readTopic("a", 4, 5, 10)?.map((u) => u.seq), [5]);
  assert.equal(tail.readTopic("a", 4, 6, 10), undefined);
});

/** Counts the log reads a transport answers. */
function counting(transport: Transport): { transport: Transport; reads: () => number } {
  let reads = 0;
  const counted = new Set(["read", "readTopic", "headSeq", "trimmedUpTo", "seqOfId"]);
  const proxy = new Proxy(transport, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (typeof property === "string" && counted.has(property)) {
        return (...args: unknown[]) => {
          reads++;
          if (Deno.env.get("DEBUG_READS")) console.log(property, args);
          return value.apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
  return { transport: proxy, reads: () => reads };
}

/** Resumes after `lastEventId` and collects the bytes up to the hub's position. */
async function resumeBytes(
  hub: Hub,
  lastEventId: string,
  selectors: string[],
  log: StoredUpdate[],
): Promise<string> {
  const selectorSet = new SelectorSet(selectors);
  const point = await hub.resumePoint(lastEventId, selectorSet, {
    subscribe: ["private/{x}"],
  });
  const until = hub.broker.cursor;
  const controller = new AbortController();
  const stream = hub.subscribe({
    selectors: selectorSet,
    afterSeq: point.afterSeq,
    accepts: (update) => !update.private || update.topics.some((t) => t.startsWith("private/")),
    signal: controller.signal,
  });
  const decoder = new TextDecoder();
  let text = `resumed from ${point.resumedFrom} after ${point.afterSeq}\n`;
  // Every update up to `until` ends with its id line; stop once the last one has been written.
  const lastIds = new Set<string>();
  for (const update of log) {
    if (update.seq <= point.afterSeq || update.seq > until) continue;
    if (update.topics.some((topic) => selectorSet.matches(topic))) lastIds.add(update.id);
  }
  let remaining = lastIds.size;
  while (remaining > 0) {
    const chunk = await stream.next();
    if (chunk.done) break;
    const part = decoder.decode(chunk.value);
    text += part;
    for (const id of lastIds) if (part.includes(`id: ${id}\n`)) remaining--;
  }
  controller.abort();
  await stream.return(undefined);
  return text;
}

Deno.test("a resume served from the hot tail reads nothing from the store and sends the same bytes as one served from the store, also right after a restart", async () => {
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  const kvTail = await Deno.openKv(path);
  const kvStore = await Deno.openKv(path);
  const withTail = counting(new KvTransport(kvTail));
  const withoutTail = counting(new KvTransport(kvStore));
  const tailHub = await Hub.open(withTail.transport, { pollMs: 60_000 });
  const storeHub = await Hub.open(withoutTail.transport, {
    pollMs: 60_000,
    tail: { globalUpdates: 0, topicUpdates: 0 },
  });
  let kvRestarted: Deno.Kv | undefined;
  let restartedHub: Hub | undefined;
  try {
    const published: StoredUpdate[] = [];
    for (let i = 0; i < 60; i++) {
      const topics = i % 5 === 0 ? ["a", "b"] : [["a", "b", "c", "private/x"][i % 4]];
      published.push(
        await tailHub.publish({
          topics,
          data: `event ${i}\nline two`,
          id: i % 3 === 0 ? `given-${i}` : undefined,
          type: i % 7 === 0 ? "special" : undefined,
          private: topics[0] === "private/x" ? true : undefined,
        }),
      );
    }
    const head = published.at(-1)!.seq;
    // A hub started now (a restart) begins with the newest updates already in memory.
    kvRestarted = await Deno.openKv(path);
    const restarted = counting(new KvTransport(kvRestarted));
    const beforeStart = restarted.reads();
    restartedHub = await Hub.open(restarted.transport, { pollMs: 60_000 });
    // The head and the newest updates: two reads to start.
    assert.equal(restarted.reads() - beforeStart, 2);
    const deadline = Date.now() + 10_000;
    while (storeHub.broker.cursor < head || tailHub.broker.cursor < head) {
      assert.ok(Date.now() < deadline, "both hubs see every update");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const cases: Array<[string, string[]]> = [
      [published[10].id, ["a"]],
      [published[30].id, ["a", "b"]],
      [published[3].id, ["c", "private/x"]],
      [published[45].id, ["*"]],
      [published[12].id, ["{x}"]],
      [published[59].id, ["b"]],
      ["unknown", ["a"]],
      ["earliest", ["b"]],
    ];
    for (const [id, selectors] of cases) {
      const before = withTail.reads();
      const fromTail = await resumeBytes(tailHub, id, selectors, published);
      const tailReads = withTail.reads() - before;
      const fromStore = await resumeBytes(storeHub, id, selectors, published);
      assert.equal(fromTail, fromStore, `resume after ${id} on ${selectors}`);
      const beforeRestarted = restarted.reads();
      const fromRestarted = await resumeBytes(restartedHub, id, selectors, published);
      const restartedReads = restarted.reads() - beforeRestarted;
      assert.equal(fromRestarted, fromStore, `resume after ${id} on ${selectors}, restarted`);
      assert.ok(fromTail.split("\n\n").length > 1 || id === published[59].id);
      // Hub ids and recent positions come from memory; only a publisher id's position needs
      // the store (and an unknown id or `earliest` reads history from the beginning).
      const expected = id.startsWith("given-") ? 1 : id === "unknown" ? 1 : 0;
      if (id !== "earliest" && id !== "unknown") {
        assert.equal(tailReads, expected, `store reads for a resume after ${id} on ${selectors}`);
        assert.equal(
          restartedReads,
          expected,
          `store reads after ${id} on ${selectors}, restarted`,
        );
      }
    }
  } finally {
    restartedHub?.close();
    kvRestarted?.close();
    tailHub.close();
    storeHub.close();
    kvTail.close();
    kvStore.close();
    await Deno.remove(path).catch(() => {});
  }
});
