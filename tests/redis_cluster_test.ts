/**
 * Several tidings processes sharing one real `redis-server` (`TIDINGS_REDIS_URL`), each on its
 * own port with its own local KV file: delivery across nodes, a node killed with SIGKILL, Redis
 * stopped and started again, and a shared feed taken over through its lease.
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

async function startNodes(
  redis: RunningRedis,
  count: number,
  options: { env?: Record<string, string>; parallelFirst?: number } = {},
): Promise<{ nodes: RunningServer[]; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "tidings-test-cluster-" });
  const nodes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startServer({
        env: {
          TIDINGS_REDIS_URL: redis.url,
          TIDINGS_KV_PATH: `${dir}/node-${i}.kv`,
          TIDINGS_DEMO_FEEDS: "off",
          ...options.env,
        },
        parallel: i === 0 ? options.parallelFirst : undefined,
      })),
  );
  return { nodes, dir };
}

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string) {
  const deadline = Date.now() + 20_000;
  while (true) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function subscribe(node: RunningServer, topic: string, lastEventId?: string) {
  const headers: Record<string, string> = lastEventId ? { "last-event-id": lastEventId } : {};
  return openSubscribed(`${node.url}${HUB}?topic=${encodeURIComponent(topic)}`, { headers });
}

Deno.test(
  "three nodes on one Redis: every subscriber on every node gets every update once, in one order",
  withRedis,
  async () => {
    const redis = await startRedis();
    const { nodes, dir } = await startNodes(redis, 3);
    const streams: EventStreamHandle[] = [];
    try {
      const token = await mercureToken({ publish: ["*"] });
      for (const node of nodes) {
        // Two per node (on the node with two isolates, usually one on each).
        streams.push(await subscribe(node, "cluster"), await subscribe(node, "cluster"));
      }
      // Publishers on every node at once, 20 updates each.
      const published = await Promise.all(
        nodes.flatMap((node, n) =>
          Array.from(
            { length: 20 },
            (_, i) => publish(node.url, token, { topic: "cluster", data: `node${n}-${i}` }),
          )
        ),
      );
      for (const result of published) {
        assert.equal(result.status, 200, result.body);
      }
      const ids = published.map((result) => result.body);
      assert.equal(new Set(ids).size, 60);
      const orders = await Promise.all(streams.map(async (stream) => {
        const events = await stream.waitFor(60);
        return events.map((event) => event.lastEventId);
      }));
      for (const order of orders) {
        assert.equal(new Set(order).size, 60, "no duplicates");
        assert.deepEqual([...order].sort(), [...ids].sort(), "every published update");
        assert.deepEqual(order, orders[0], "one order on every node");
      }
      // Nothing more arrives (no duplicate after the 60th).
      await publish(nodes[0].url, token, { topic: "cluster", data: "fence" });
      for (const stream of streams) {
        const events = await stream.waitFor(61);
        assert.equal(events[60].data, "fence");
      }
      // Last-Event-ID resumes on any node.
      const resumed = await subscribe(nodes[2], "cluster", orders[0][49]);
      const replay = await resumed.waitFor(11);
      assert.deepEqual(replay.map((event) => event.lastEventId), [
        ...orders[0].slice(50),
        replay[10].lastEventId,
      ]);
      assert.equal(replay[10].data, "fence");
      streams.push(resumed);
    } finally {
      await Promise.all(streams.map((stream) => stream.close()));
      await Promise.all(nodes.map((node) => node.close()));
      await redis.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "a node killed with SIGKILL mid-run: its subscribers resume on another node and miss nothing",
  withRedis,
  async () => {
    const redis = await startRedis();
    const { nodes, dir } = await startNodes(redis, 3);
    const [a, b, doomed] = nodes;
    const streams: EventStreamHandle[] = [];
    try {
      const token = await mercureToken({ publish: ["*"] });
      const onDoomed = [await subscribe(doomed, "run"), await subscribe(doomed, "run")];
      streams.push(...onDoomed);
      const acknowledged: string[] = [];
      let stop = false;
      const publishing = Promise.all([a, b].map(async (node, n) => {
        for (let i = 0; !stop || i < 10; i++) {
          const result = await publish(node.url, token, { topic: "run", data: `${n}-${i}` });
          assert.equal(result.status, 200, result.body);
          acknowledged.push(result.body);
        }
      }));
      await until(
        () => onDoomed[0].events.length,
        (count) => count >= 10,
        "events before the kill",
      );
      assert.equal(await doomed.stop("SIGKILL"), 137);
      await Promise.all(onDoomed.map((stream) => stream.ended));
      // Each subscriber reconnects to a surviving node with the last id it received.
      const resumed = await Promise.all(
        onDoomed.map((stream, i) =>
          subscribe(i === 0 ? a : b, "run", stream.events.at(-1)!.lastEventId)
        ),
      );
      streams.push(...resumed);
      await until(
        () => resumed[0].events.length + resumed[1].events.length,
        (count) => count >= 20,
        "events after the kill",
      );
      stop = true;
      await publishing;
      for (let i = 0; i < 2; i++) {
        const total = acknowledged.length;
        await until(
          () => onDoomed[i].events.length + resumed[i].events.length,
          (count) => count >= total,
          "every acknowledged update",
        );
        const seen = [...onDoomed[i].events, ...resumed[i].events].map((event) =>
          event.lastEventId
        );
        assert.equal(new Set(seen).size, seen.length, "no duplicates");
        assert.deepEqual([...seen].sort(), [...acknowledged].sort(), "nothing lost");
      }
      const orderOf = (i: number) =>
        [...onDoomed[i].events, ...resumed[i].events].map((e) => e.lastEventId);
      assert.deepEqual(orderOf(0), orderOf(1), "one order");
    } finally {
      await Promise.all(streams.map((stream) => stream.close()));
      await Promise.all(nodes.map((node) => node.close()));
      await redis.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "Redis stopped mid-run: publishes get 503 with Retry-After, /readyz says so, subscribers stay and catch up, acknowledged updates survive the restart",
  withRedis,
  async () => {
    const redis = await startRedis();
    const { nodes, dir } = await startNodes(redis, 2);
    const streams: EventStreamHandle[] = [];
    try {
      const token = await mercureToken({ publish: ["*"] });
      for (const node of nodes) streams.push(await subscribe(node, "outage"));
      const acknowledged: string[] = [];
      const refused: { status: number; body: string; retryAfter: string | null }[] = [];
      let stop = false;
      const publishing = Promise.all(nodes.map(async (node, n) => {
        for (let i = 0; !stop; i++) {
          const result = await publish(node.url, token, { topic: "outage", data: `${n}-${i}` });
          if (result.status === 200) acknowledged.push(result.body);
          else {refused.push({
              status: result.status,
              body: result.body,
              retryAfter: result.headers.get("retry-after"),
            });}
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }));
      await until(() => acknowledged.length, (count) => count >= 10, "publishes before the outage");
      await redis.stop();
      await until(() => refused.length, (count) => count >= 10, "refused publishes");
      const ready = await fetch(`${nodes[0].url}/readyz`);
      assert.equal(ready.status, 503);
      assert.match(await ready.text(), /not ready: redis unavailable/);
      await redis.start();
      await until(
        async () => (await fetch(`${nodes[1].url}/readyz`).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        })),
        (status) => status === 200,
        "ready again",
      );
      const afterRestart = acknowledged.length;
      await until(
        () => acknowledged.length,
        (count) => count >= afterRestart + 10,
        "publishes after the restart",
      );
      stop = true;
      await publishing;
      for (const refusal of refused) {
        assert.equal(refusal.status, 503, refusal.body);
        assert.match(refusal.body, /redis unavailable/);
        assert.match(refusal.retryAfter ?? "", /^[1-9]\d*$/);
      }
      // Refused ones were told so: a refused update is delivered only if its refusal said it may
      // have been stored.
      const mayHaveLanded = refused.filter((r) => /may have been stored/.test(r.body)).length;
      for (const stream of streams) {
        await until(
          () => stream.events.length,
          (count) => count >= acknowledged.length,
          "catching up",
        );
        const seen = stream.events.map((event) => event.lastEventId);
        assert.equal(new Set(seen).size, seen.length, "no duplicates");
        const seenSet = new Set(seen);
        for (const id of acknowledged) {
          assert.ok(seenSet.has(id), `acknowledged ${id} delivered`);
        }
        assert.ok(seen.length <= acknowledged.length + mayHaveLanded);
      }
      assert.deepEqual(
        streams[0].events.map((e) => e.lastEventId),
        streams[1].events.map((e) => e.lastEventId),
      );
      // And from the log after the restart: a fresh subscriber replays them all.
      const replay = await subscribe(nodes[1], "outage", streams[0].events[0].lastEventId);
      streams.push(replay);
      await replay.waitFor(streams[0].events.length - 1);
      assert.deepEqual(
        replay.events.map((e) => e.lastEventId),
        streams[0].events.slice(1).map((e) => e.lastEventId),
      );
    } finally {
      await Promise.all(streams.map((stream) => stream.close()));
      await Promise.all(nodes.map((node) => node.close()));
      await redis.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test(
  "a shared feed runs once in the cluster and is taken over through its lease when its node is killed",
  withRedis,
  async () => {
    const redis = await startRedis();
    const dir = await Deno.makeTempDir({ prefix: "tidings-test-cluster-" });
    const client = new RedisClient({ address: parseRedisUrl(redis.url) });
    const env = (i: number) => ({
      TIDINGS_REDIS_URL: redis.url,
      TIDINGS_KV_PATH: `${dir}/node-${i}.kv`,
      TIDINGS_DEMO_FEEDS: "on",
    });
    const nodes: RunningServer[] = [];
    const streams: EventStreamHandle[] = [];
    try {
      nodes.push(await startServer({ env: env(0) }));
      await until(
        () => client.command(["GET", "tidings:lease:feed:clock"]),
        (v) => v !== null,
        "the first node's lease",
      );
      nodes.push(await startServer({ env: env(1) }));
      const [first, second] = nodes;
      const clock = await subscribe(second, "clock");
      streams.push(clock);
      await clock.waitFor(3);
      const holder = await client.command(["GET", "tidings:lease:feed:clock"]);
      // One producer: the ticks are one sequence, none twice.
      const ticks = clock.events.map((event) => JSON.parse(event.data).time ?? event.data);
      assert.equal(new Set(ticks).size, ticks.length);
      assert.equal(await first.stop("SIGKILL"), 137);
      const before = clock.events.length;
      await clock.waitFor(before + 3, 20_000);
      const taken = await client.command(["GET", "tidings:lease:feed:clock"]);
      assert.notEqual(taken, holder, "the surviving node holds the lease now");
    } finally {
      client.close();
      await Promise.all(streams.map((stream) => stream.close()));
      await Promise.all(nodes.map((node) => node.close()));
      await redis.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
