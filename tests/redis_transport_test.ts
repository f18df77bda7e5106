/**
 * The Redis engine of the transport seam (`lib/redis/redis_transport.ts`) against a real
 * `redis-server`: appends from several connections at once, range reads, trimming, leases,
 * records, the share ledger, the head watch, and an outage.
 */

import assert from "node:assert/strict";
import { EventLog } from "../lib/hub/_event_log.ts";
import { StorageLimitError, StorageUnavailableError } from "../lib/hub/transport.ts";
import { ConnectionBudget } from "../lib/hub/connection_budget.ts";
import { RecordShareLedger } from "../lib/hub/share_ledger.ts";
import { RedisClient } from "../lib/redis/client.ts";
import { RedisTransport } from "../lib/redis/redis_transport.ts";
import { parseRedisUrl } from "../lib/redis/url.ts";
import { haveRedis, type RunningRedis, startRedis } from "./support/redis_server.ts";

const withRedis = { ignore: !haveRedis, sanitizeOps: false, sanitizeResources: false };

let shared: RunningRedis | undefined;
let prefixes = 0;

/** A transport on the shared server, under a prefix of its own (one hub per test). */
async function hubOnRedis(prefix?: string): Promise<{ transport: RedisTransport; prefix: string }> {
  shared ??= await startRedis();
  const name = prefix ?? `t${++prefixes}:`;
  return {
    transport: new RedisTransport({
      address: parseRedisUrl(shared.url),
      prefix: name,
      client: { minBackoffMs: 10, maxBackoffMs: 200 },
    }),
    prefix: name,
  };
}

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string) {
  const deadline = Date.now() + 10_000;
  while (true) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${value}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test(
  "appends from four connections at once take contiguous positions, each exactly once",
  withRedis,
  async () => {
    const { transport: first, prefix } = await hubOnRedis();
    const transports = [
      first,
      ...await Promise.all([1, 2, 3].map(() => hubOnRedis(prefix)))
        .then((hubs) => hubs.map((hub) => hub.transport)),
    ];
    try {
      const logs = await Promise.all(transports.map((transport) => EventLog.open(transport)));
      assert.equal(new Set(logs.map((log) => log.epoch)).size, 1);
      const stored = await Promise.all(
        logs.flatMap((log, node) =>
          Array.from(
            { length: 150 },
            (_, i) => log.append({ topics: [`node-${node}`, "all"], data: `${node}:${i}` }),
          )
        ),
      );
      const seqs = stored.map((update) => update.seq).sort((a, b) => a - b);
      assert.deepEqual(seqs, Array.from({ length: 600 }, (_, i) => i + 1));
      assert.equal(await first.headSeq(), 600);
      const global = await first.read(0, 600, 10_000);
      assert.deepEqual(global.map((update) => update.seq), seqs);
      assert.deepEqual(
        global.map((update) => update.data),
        [...stored].sort((a, b) => a.seq - b.seq).map((u) => u.data),
      );
      const all = await transports[2].readTopic("all", 0, 600, 10_000);
      assert.equal(all.length, 600);
      for (let node = 0; node < 4; node++) {
        const own = await first.readTopic(`node-${node}`, 0, 600, 1000);
        assert.deepEqual(
          own.map((update) => update.data),
          Array.from({ length: 150 }, (_, i) => `${node}:${i}`),
        );
      }
      // Several appends conflicted and were retried with the head the script returned.
      assert.ok(logs.reduce((sum, log) => sum + log.stats.commits, 0) < 600);
    } finally {
      for (const transport of transports) transport.close();
    }
  },
);

Deno.test(
  "ranges, topics, ids, newest and the oldest position read back exactly",
  withRedis,
  async () => {
    const { transport } = await hubOnRedis();
    try {
      const log = await EventLog.open(transport);
      for (let i = 1; i <= 10; i++) {
        await log.append({
          topics: [i % 2 ? "odd" : "even", "ünï/€"],
          data: `d${i}`,
          id: i === 4 ? "my-id" : undefined,
        });
      }
      assert.deepEqual((await transport.read(2, 5, 100)).map((u) => u.seq), [3, 4, 5]);
      assert.deepEqual((await transport.read(2, 9, 3)).map((u) => u.seq), [3, 4, 5]);
      assert.deepEqual(await transport.read(5, 5, 10), []);
      assert.deepEqual((await transport.readTopic("odd", 0, 10, 100)).map((u) => u.data), [
        "d1",
        "d3",
        "d5",
        "d7",
        "d9",
      ]);
      assert.deepEqual((await transport.readTopic("even", 3, 8, 100)).map((u) => u.seq), [4, 6, 8]);
      assert.equal((await transport.readTopic("ünï/€", 0, 10, 100)).length, 10);
      assert.deepEqual(await transport.readTopic("none", 0, 10, 100), []);
      assert.equal(await transport.seqOfId("my-id"), 4);
      assert.equal((await transport.read(3, 4, 1))[0].id, "my-id");
      assert.equal(await transport.seqOfId("unknown"), undefined);
      assert.equal((await transport.newest("even"))?.data, "d10");
      assert.equal(await transport.newest("none"), undefined);
      assert.equal(await transport.seqBeforeNewest("odd", 2), 6);
      assert.equal(await transport.seqBeforeNewest("odd", 50), 0);
      assert.equal(await transport.seqBeforeNewest("odd", 0), 10);
      assert.equal(await transport.oldestSeq(), 1);
      assert.deepEqual((await transport.listTopics()).sort(), ["even", "odd", "ünï/€"]);
      const stored = (await transport.read(0, 1, 1))[0];
      assert.deepEqual(Object.keys(stored).sort(), ["data", "id", "seq", "time", "topics"]);
    } finally {
      transport.close();
    }
  },
);

Deno.test(
  "an update, topic or id the store cannot take is refused before the append",
  withRedis,
  async () => {
    const { transport } = await hubOnRedis();
    try {
      const log = await EventLog.open(transport);
      await assert.rejects(
        () => log.append({ topics: ["t".repeat(2001)], data: "" }),
        StorageLimitError,
      );
      await assert.rejects(
        () => log.append({ topics: ["t"], data: "", id: "i".repeat(2001) }),
        /id too long/,
      );
      await assert.rejects(
        () => log.append({ topics: ["t"], data: "x".repeat(70_000) }),
        /too large/,
      );
      assert.equal(await transport.headSeq(), 0);
    } finally {
      transport.close();
    }
  },
);

Deno.test(
  "trimming keeps the newest per topic and globally, drops the too old, and says how far",
  withRedis,
  async () => {
    const { transport } = await hubOnRedis();
    try {
      const log = await EventLog.open(transport);
      for (let i = 1; i <= 10; i++) {
        await log.append({ topics: [i <= 8 ? "a" : "b"], data: `${i}` });
      }
      const deleted = await transport.trim(["a", "b"], {
        perTopic: 3,
        global: 6,
        maxAgeMs: 60_000,
      });
      assert.equal(deleted, 5 + 4);
      assert.deepEqual((await transport.readTopic("a", 0, 10, 100)).map((u) => u.seq), [6, 7, 8]);
      assert.deepEqual((await transport.readTopic("b", 0, 10, 100)).map((u) => u.seq), [9, 10]);
      assert.deepEqual((await transport.read(0, 10, 100)).map((u) => u.seq), [5, 6, 7, 8, 9, 10]);
      assert.equal(await transport.trimmedUpTo("a"), 5);
      assert.equal(await transport.trimmedUpTo("b"), 0);
      assert.equal(await transport.trimmedUpTo("*"), 4);
      assert.equal(await transport.oldestSeq(), 5);
      // By age: everything is older than "now" an hour on; the emptied topics are forgotten.
      const later = Date.now() + 3_600_000;
      await transport.trim(["a", "b"], { perTopic: 3, global: 6, maxAgeMs: 60_000 }, later);
      assert.deepEqual(await transport.readTopic("a", 0, 10, 100), []);
      assert.equal(await transport.trimmedUpTo("a"), 8);
      assert.equal(await transport.trimmedUpTo("*"), 10);
      assert.deepEqual(await transport.listTopics(), []);
      assert.equal(await transport.oldestSeq(), 11);
      // Appending goes on after the streams were emptied.
      assert.equal((await log.append({ topics: ["a"], data: "11" })).seq, 11);
      assert.deepEqual((await transport.readTopic("a", 0, 20, 100)).map((u) => u.seq), [11]);
    } finally {
      transport.close();
    }
  },
);

Deno.test(
  "a lease is held by one owner, renewed by its holder only, and free once expired or released",
  withRedis,
  async () => {
    const { transport } = await hubOnRedis();
    try {
      const hold = await transport.acquireLease("feed", "node-a", 10_000);
      assert.ok(hold);
      assert.equal(await transport.acquireLease("feed", "node-b", 10_000), undefined);
      assert.ok(await transport.renewLease(hold, 10_000));
      await transport.releaseLease(hold);
      const taken = await transport.acquireLease("feed", "node-b", 50);
      assert.ok(taken);
      assert.equal(await transport.renewLease(hold, 10_000), undefined);
      const afterExpiry = await until(
        () => transport.acquireLease("feed", "node-a", 10_000),
        (value) => value !== undefined,
        "the expired lease",
      );
      assert.equal(afterExpiry?.owner, "node-a");
      assert.equal(await transport.renewLease(taken, 10_000), undefined);
    } finally {
      transport.close();
    }
  },
);

Deno.test(
  "records: set, get, set-if-absent, delete, add, prefix listing in key order, expiry",
  withRedis,
  async () => {
    const { transport } = await hubOnRedis();
    const records = transport.records;
    try {
      await records.set(["orders", "b"], { status: "new" });
      await records.set(["orders", "a"], { status: "done" });
      await records.set(["orders2", "x"], 1);
      await records.set(["ord"], 2);
      assert.deepEqual(await records.get(["orders", "a"]), { status: "done" });
      assert.equal(await records.get(["orders", "zzz"]), undefined);
      assert.equal(await records.setIfAbsent(["orders", "a"], { status: "other" }), false);
      assert.equal(await records.setIfAbsent(["orders", "c"], { status: "c" }), true);
      const listed = [];
      for await (const entry of records.list(["orders"])) listed.push(entry);
      assert.deepEqual(listed, [
        [["orders", "a"], { status: "done" }],
        [["orders", "b"], { status: "new" }],
        [["orders", "c"], { status: "c" }],
      ]);
      const limited = [];
      for await (const [key] of records.list(["orders"], { limit: 2 })) limited.push(key);
      assert.equal(limited.length, 2);
      await records.delete(["orders", "b"]);
      assert.equal(await records.get(["orders", "b"]), undefined);
      assert.equal(await records.add(["hits", 1], 2), 2);
      assert.equal(await records.add(["hits", 1], 3.5), 5.5);
      assert.equal(await records.get(["hits", 1]), 5.5);
      await records.set(["typing", "ann"], 1, { expireInMs: 30 });
      await until(
        async () => {
          const found = [];
          for await (const entry of records.list(["typing"])) found.push(entry);
          return found.length;
        },
        (count) => count === 0,
        "the record to expire",
      );
      assert.match(records.keyRefusal(["k".repeat(3000)])!, /key too long/);
      await assert.rejects(() => records.set(["k".repeat(3000)], 1), StorageLimitError);
      await assert.rejects(() => records.set(["big"], "x".repeat(70_000)), /record too large/);
    } finally {
      transport.close();
    }
  },
);

Deno.test("the head watch of one node hears another node's appends", withRedis, async () => {
  const { transport: watching, prefix } = await hubOnRedis();
  const { transport: writing } = await hubOnRedis(prefix);
  const controller = new AbortController();
  try {
    const heads: number[] = [];
    watching.watchHead((seq) => heads.push(seq), controller.signal);
    await until(() => heads.length, (count) => count > 0, "the first head");
    const log = await EventLog.open(writing);
    await log.append({ topics: ["t"], data: "1" });
    await until(() => heads.at(-1), (head) => head === 1, "head 1");
    await Promise.all([2, 3, 4].map((i) => log.append({ topics: ["t"], data: `${i}` })));
    await until(() => heads.at(-1), (head) => head === 4, "head 4");
    assert.deepEqual(heads, [...heads].sort((a, b) => a - b));
  } finally {
    controller.abort();
    watching.close();
    writing.close();
  }
});

Deno.test(
  "the connection budget's ledger in Redis never grants past the limit",
  withRedis,
  async () => {
    const { transport } = await hubOnRedis();
    const options = { maxConnections: 3, maxConnectionsPerIp: 2, scope: "redis-test" };
    const first = new ConnectionBudget(new RecordShareLedger(transport.records), options);
    const second = new ConnectionBudget(new RecordShareLedger(transport.records), options);
    try {
      assert.equal(await first.admit("10.0.0.1"), undefined);
      assert.equal(await second.admit("10.0.0.1"), undefined);
      assert.equal(await second.admit("10.0.0.1"), "max_connections_per_ip");
      assert.equal(await first.admit("10.0.0.2"), undefined);
      assert.equal(await second.admit("10.0.0.3"), "max_connections");
      first.release("10.0.0.2");
      assert.equal(await second.admit("10.0.0.3"), undefined);
    } finally {
      first.close();
      second.close();
      transport.close();
    }
  },
);

Deno.test(
  "Redis stopped: appends fail as unavailable; restarted with AOF, every acknowledged append is there",
  withRedis,
  async () => {
    const redis = await startRedis();
    const transport = new RedisTransport({
      address: parseRedisUrl(redis.url),
      client: { minBackoffMs: 10, maxBackoffMs: 100 },
    });
    const controller = new AbortController();
    try {
      const heads: number[] = [];
      transport.watchHead((seq) => heads.push(seq), controller.signal);
      const log = await EventLog.open(transport);
      for (let i = 1; i <= 5; i++) await log.append({ topics: ["t"], data: `${i}` });
      await redis.stop();
      const error = await log.append({ topics: ["t"], data: "refused" }).catch((error) => error);
      assert.ok(error instanceof StorageUnavailableError, String(error));
      assert.ok(error.retryAfterSeconds >= 1);
      await redis.start();
      const sixth = await until(
        () => log.append({ topics: ["t"], data: "6" }).catch(() => undefined),
        (stored) => stored !== undefined,
        "an append after the restart",
      );
      assert.equal(sixth?.seq, 6);
      assert.deepEqual((await transport.readTopic("t", 0, 10, 10)).map((u) => u.data), [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
      ]);
      // The head watch reconnected by itself and reports the new head.
      await until(() => heads.at(-1), (head) => head === 6, "the watch after the restart");
    } finally {
      controller.abort();
      transport.close();
      await redis.close();
    }
  },
);

Deno.test(
  "a record transaction in Redis commits only over what it read: concurrent counters on two nodes never lose an add",
  withRedis,
  async () => {
    const { transport: first, prefix } = await hubOnRedis();
    const { transport: second } = await hubOnRedis(prefix);
    try {
      const increment = (records: typeof first.records) =>
        records.transact([["count"]], ([value]) => {
          const next = ((value as number | undefined) ?? 0) + 1;
          return { writes: [{ key: ["count"], value: next, expireInMs: 60_000 }], result: next };
        });
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => increment(i % 2 ? first.records : second.records)),
      );
      assert.deepEqual(
        [...results].sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      assert.equal(await first.records.get(["count"]), 40);
      // A record written only if absent, and a delete, in one transaction.
      const created = await first.records.transact(
        [["a"], ["b"]],
        ([a]) =>
          a === undefined
            ? {
              writes: [{ key: ["a"], value: 1 }, { key: ["count"], value: undefined }],
              result: true,
            }
            : { writes: [], result: false },
      );
      assert.equal(created, true);
      assert.equal(await second.records.get(["count"]), undefined);
      assert.deepEqual((await Array.fromAsync(second.records.list(["a"]))).map(([, v]) => v), [1]);
    } finally {
      first.close();
      second.close();
    }
  },
);

Deno.test(
  "an append whose WAIT for replicas loses its connection is refused as maybe written, and its hooks hear that it missed",
  withRedis,
  async () => {
    shared ??= await startRedis();
    const prefix = `t${++prefixes}:`;
    // No replica: WAIT blocks for its whole (long) timeout, until its connection is killed.
    const transport = new RedisTransport({
      address: parseRedisUrl(shared.url),
      prefix,
      waitReplicas: 1,
      waitTimeoutMs: 60_000,
      client: { minBackoffMs: 10, maxBackoffMs: 100 },
    });
    const admin = new RedisClient({ address: parseRedisUrl(shared.url) });
    try {
      const log = await EventLog.open(transport);
      const heard: string[] = [];
      const appending = transport.append(
        [{ input: { topics: ["t"], data: "landed" }, size: 100 }],
        (request, seq, time) => ({ ...request.input, seq, id: `id-${seq}`, time }),
        { claiming: (last) => heard.push(`claiming ${last}`), missed: () => heard.push("missed") },
      ).catch((error) => error);
      const waiting = await until(
        async () => String(await admin.command(["CLIENT", "LIST"])),
        (list) => / cmd=wait /.test(list),
        "the WAIT to block",
      );
      const id = /^id=(\d+) .* cmd=wait /m.exec(waiting)![1];
      assert.equal(await admin.command(["CLIENT", "KILL", "ID", id]), 1);
      const error = await appending;
      assert.ok(error instanceof StorageUnavailableError, String(error));
      assert.equal(error.maybeWritten, true);
      assert.match(error.message, /^Redis replicas could not be asked to confirm the update: /);
      assert.deepEqual(heard, ["claiming 1", "missed"]);
      // It is in the log all the same.
      const stored = await until(
        () => log.readTopic("t", 0, 10).catch(() => undefined),
        (updates) => updates !== undefined,
        "a read after the reconnect",
      );
      assert.deepEqual(stored!.map((update) => [update.seq, update.data]), [[1, "landed"]]);
    } finally {
      admin.close();
      transport.close();
    }
  },
);

Deno.test("stop the shared Redis server", { ignore: !haveRedis }, async () => {
  await shared?.close();
});
