/**
 * `TIDINGS_REDIS_WAIT_REPLICAS` against a real replica: a primary `redis-server`, a second one
 * started with `--replicaof` the first, and a tidings node on the primary that asks Redis `WAIT`
 * for one replica after every append. With the replica up a 200 means the update is on the
 * replica; with the replica killed, publishes are refused with 503 naming the shortfall, yet the
 * updates, already on the primary, reach subscribers exactly once.
 */

import assert from "node:assert/strict";
import { type RunningServer, startServer } from "./support/server.ts";
import { type EventStreamHandle, openSubscribed, publish } from "./support/sse_client.ts";
import { mercureToken } from "./support/tokens.ts";
import { haveRedis, type RunningRedis, startRedis } from "./support/redis_server.ts";
import { RedisClient } from "../lib/redis/client.ts";
import { parseRedisUrl } from "../lib/redis/url.ts";

const withRedis = { ignore: !haveRedis, sanitizeOps: false, sanitizeResources: false };
const HUB = "/.well-known/mercure";
/** The transport's `WAIT` timeout (its default; no setting changes it). */
const WAIT_TIMEOUT_MS = 1000;
/** How long the Redis client lets `WAIT` run before it gives up on the connection. */
const WAIT_DEADLINE_MS = WAIT_TIMEOUT_MS + 5000;
const SHORTFALL = "only 0 of 1 Redis replicas confirmed the update in 1000 ms " +
  "(it may have been stored): publish again\n";

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string) {
  const deadline = Date.now() + 20_000;
  while (true) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${value}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A stream entry as XRANGE returns it: `[id, [field, value, …]]`. */
type Entry = [string, string[]];

/** The updates of the global log as one server holds them: position, id and data. */
async function logOn(client: RedisClient): Promise<{ seq: number; id: string; data: string }[]> {
  const entries = await client.command(["XRANGE", "tidings:log", "-", "+"]) as Entry[];
  return entries.map(([entryId, fields]) => {
    const update = JSON.parse(fields[fields.indexOf("u") + 1]);
    assert.equal(entryId, `${update.seq}-0`);
    return { seq: update.seq, id: update.id, data: update.data };
  });
}

/** A primary (diskless sync without delay, so the replica syncs at once) and its replica. */
async function startPair(): Promise<{ primary: RunningRedis; replica: RunningRedis }> {
  const primary = await startRedis({ args: ["--repl-diskless-sync-delay", "0"] });
  const replica = await startRedis({ args: ["--replicaof", "127.0.0.1", String(primary.port)] });
  return { primary, replica };
}

/** Waits until the primary counts one replica, synced and online. */
function replicaOnline(primary: RedisClient): Promise<string> {
  return until(
    async () => String(await primary.command(["INFO", "replication"])),
    (info) => /^connected_slaves:1\r?$/m.test(info) && /^slave0:.*state=online/m.test(info),
    "the replica online",
  );
}

async function startNode(primary: RunningRedis, dir: string): Promise<RunningServer> {
  return await startServer({
    env: {
      TIDINGS_REDIS_URL: primary.url,
      TIDINGS_REDIS_WAIT_REPLICAS: "1",
      TIDINGS_KV_PATH: `${dir}/node.kv`,
      TIDINGS_DEMO_FEEDS: "off",
      // The log then holds the test's updates only (no subscription events between them).
      TIDINGS_SUBSCRIPTION_EVENTS: "off",
    },
  });
}

function subscribe(node: RunningServer, topic: string): Promise<EventStreamHandle> {
  return openSubscribed(`${node.url}${HUB}?topic=${encodeURIComponent(topic)}`);
}

Deno.test(
  "with its replica up, a publish under TIDINGS_REDIS_WAIT_REPLICAS=1 is answered 200 once the update is on the replica",
  withRedis,
  async () => {
    const { primary, replica } = await startPair();
    const dir = await Deno.makeTempDir({ prefix: "tidings-test-replica-" });
    const onPrimary = new RedisClient({ address: parseRedisUrl(primary.url) });
    const onReplica = new RedisClient({ address: parseRedisUrl(replica.url) });
    let node: RunningServer | undefined;
    const streams: EventStreamHandle[] = [];
    try {
      await replicaOnline(onPrimary);
      assert.match(String(await onReplica.command(["INFO", "replication"])), /^role:slave\r?$/m);
      node = await startNode(primary, dir);
      const token = await mercureToken({ publish: ["*"] });
      const stream = await subscribe(node, "replicated");
      streams.push(stream);
      const first = await publish(node.url, token, { topic: "replicated", data: "one" });
      assert.equal(first.status, 200, first.body);
      // Read at once, without waiting: the 200 came after WAIT counted the replica.
      assert.deepEqual(await logOn(onReplica), [{ seq: 1, id: first.body, data: "one" }]);
      assert.equal(await onReplica.command(["GET", "tidings:head"]), "1");
      const second = await publish(node.url, token, { topic: "replicated", data: "two" });
      assert.equal(second.status, 200, second.body);
      assert.deepEqual(await logOn(onReplica), [
        { seq: 1, id: first.body, data: "one" },
        { seq: 2, id: second.body, data: "two" },
      ]);
      assert.deepEqual(await logOn(onReplica), await logOn(onPrimary));
      const events = await stream.waitFor(2);
      assert.deepEqual(events.map((event) => [event.lastEventId, event.data]), [
        [first.body, "one"],
        [second.body, "two"],
      ]);
    } finally {
      onPrimary.close();
      onReplica.close();
      await Promise.all(streams.map((stream) => stream.close()));
      await node?.close();
      await replica.close();
      await primary.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "with its replica killed, publishes are answered 503 naming the replica shortfall, and subscribers still get each update exactly once",
  withRedis,
  async () => {
    const { primary, replica } = await startPair();
    const dir = await Deno.makeTempDir({ prefix: "tidings-test-replica-" });
    const onPrimary = new RedisClient({ address: parseRedisUrl(primary.url) });
    let node: RunningServer | undefined;
    const streams: EventStreamHandle[] = [];
    try {
      await replicaOnline(onPrimary);
      node = await startNode(primary, dir);
      const token = await mercureToken({ publish: ["*"] });
      const stream = await subscribe(node, "shortfall");
      streams.push(stream);
      const before = await publish(node.url, token, { topic: "shortfall", data: "before" });
      assert.equal(before.status, 200, before.body);

      await replica.stop("SIGKILL");
      await until(
        async () => String(await onPrimary.command(["INFO", "replication"])),
        (info) => /^connected_slaves:0\r?$/m.test(info),
        "the primary to notice its replica is gone",
      );

      // One publish: refused once WAIT has waited its whole timeout for the missing replica, well
      // before the client's deadline on WAIT (which would be a different refusal).
      const started = performance.now();
      const refused = await publish(node.url, token, { topic: "shortfall", data: "unconfirmed" });
      const elapsed = performance.now() - started;
      assert.equal(refused.status, 503);
      assert.equal(refused.body, SHORTFALL);
      assert.equal(refused.headers.get("retry-after"), "1");
      assert.ok(
        elapsed >= WAIT_TIMEOUT_MS && elapsed < WAIT_DEADLINE_MS,
        `answered after ${Math.round(elapsed)} ms`,
      );

      // The primary has it, and the subscriber gets it, once.
      const afterOne = await logOn(onPrimary);
      assert.deepEqual(afterOne.map(({ seq, data }) => [seq, data]), [
        [1, "before"],
        [2, "unconfirmed"],
      ]);
      assert.deepEqual((await stream.waitFor(2)).map((event) => [event.lastEventId, event.data]), [
        [before.body, "before"],
        [afterOne[1].id, "unconfirmed"],
      ]);

      // Five at once: group commit writes them in batches (usually the first alone, the other
      // four together while it waits); each is refused the same way, and each is in the log once
      // and delivered once (a refused batch is not appended again one by one).
      const burst = ["b1", "b2", "b3", "b4", "b5"];
      const answers = await Promise.all(
        burst.map((data) => publish(node!.url, token, { topic: "shortfall", data })),
      );
      for (const answer of answers) {
        assert.equal(answer.status, 503);
        assert.equal(answer.body, SHORTFALL);
        assert.equal(answer.headers.get("retry-after"), "1");
      }
      const log = await logOn(onPrimary);
      assert.deepEqual(log.map((update) => update.seq), [1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual(log.slice(2).map((update) => update.data).sort(), burst);

      // The replica comes back and catches up; the next publish is confirmed again, and it is the
      // next event on the stream: nothing was delivered twice before it.
      await replica.start();
      await replicaOnline(onPrimary);
      const fence = await publish(node.url, token, { topic: "shortfall", data: "fence" });
      assert.equal(fence.status, 200, fence.body);
      const events = await stream.waitFor(8);
      assert.deepEqual(
        events.map((event) => [event.lastEventId, event.data]),
        [...log.map((update) => [update.id, update.data]), [fence.body, "fence"]],
      );
      const onReplica = new RedisClient({ address: parseRedisUrl(replica.url) });
      try {
        assert.deepEqual(await logOn(onReplica), await logOn(onPrimary));
      } finally {
        onReplica.close();
      }
    } finally {
      onPrimary.close();
      await Promise.all(streams.map((stream) => stream.close()));
      await node?.close();
      await replica.close();
      await primary.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
